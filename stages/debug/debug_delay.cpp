#include "stages/debug/debug_delay.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace embedflow {

StageSchema debug_delay_schema() {
  StageSchema s;
  s.type = "debug.delay";
  s.kind = StageKind::Map;
  s.summary = "Passes items through unchanged after a random, reproducible pause";
  s.doc =
      "Sleeps between `min_ms` and `max_ms` (inclusive, uniform) per item. The pause depends "
      "only on `seed` and the item's source position, so a rerun makes the same schedule — use "
      "it to test that writers keep source order when items finish out of order, or to "
      "simulate a slow model. Stops sleeping when the run is cancelled. Output kind is the "
      "input's.";
  s.inputs = {{"in", {}, "Items of any kind"}};
  s.output = Kind::None;  // same as the input
  s.default_concurrency = 0;
  s.params = {
      ParamSpec::integer("min_ms", 0).range(0, 3600000).describe("Shortest pause, milliseconds"),
      ParamSpec::integer("max_ms", 10).range(0, 3600000).describe("Longest pause, milliseconds"),
      ParamSpec::integer("seed", 0).range(0, std::nullopt).describe("Seed of the pause schedule"),
  };
  return s;
}

DebugDelay::DebugDelay(const Params& params)
    : min_ms_(params.get_int("min_ms")),
      max_ms_(params.get_int("max_ms")),
      seed_(static_cast<uint64_t>(params.get_int("seed"))) {
  if (min_ms_ > max_ms_)
    throw params.error("min_ms", "min_ms (" + std::to_string(min_ms_) +
                                     ") is larger than max_ms (" + std::to_string(max_ms_) + ")");
}

int64_t DebugDelay::delay_ms(uint64_t index) const {
  // splitmix64 of (seed, index): the same numbers on every platform and standard library.
  uint64_t z = seed_ * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  uint64_t span = static_cast<uint64_t>(max_ms_ - min_ms_) + 1;
  return min_ms_ + static_cast<int64_t>(z % span);
}

void DebugDelay::process(const Item& in, Item& out) {
  using Clock = std::chrono::steady_clock;
  auto until = Clock::now() + std::chrono::milliseconds(delay_ms(in.index));
  // Short slices, so a cancelled run does not wait out long pauses.
  while (!ctx_.is_cancelled()) {
    auto now = Clock::now();
    if (now >= until) break;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(until - now, std::chrono::milliseconds(50)));
  }
  out = in;
}

}  // namespace embedflow
