#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "stages/debug/debug_delay.h"
#include "tests/core/io_test_helpers.h"

using namespace embedflow;
using namespace embedflow::test;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;

TEST_CASE("debug.delay passes items through unchanged", "[io][debug.delay]") {
  auto stage = make_stage<DebugDelay>(debug_delay_schema(), {{"min_ms", 0}, {"max_ms", 0}});
  stage->open(context());
  Item in;
  in.id = "x";
  in.source = "s.wav";
  in.index = 3;
  in.kind = Kind::Audio;
  in.sample_rate = 22050;
  in.tensor = Tensor::from_vector<float>({1, 2, 3}, {1, 3});
  in.meta = {{"k", 1}};
  Item out = in.derive();
  stage->process(in, out);
  CHECK(out.kind == Kind::Audio);
  CHECK(out.sample_rate == 22050);
  CHECK(out.tensor.raw() == in.tensor.raw());  // shared, not copied
  CHECK(out.tensor.shape() == in.tensor.shape());
  CHECK(out.meta == in.meta);
  CHECK(out.id == "x");
  CHECK(out.index == 3);
}

TEST_CASE("debug.delay: reproducible pauses within [min_ms, max_ms]", "[io][debug.delay]") {
  auto a =
      make_stage<DebugDelay>(debug_delay_schema(), {{"min_ms", 5}, {"max_ms", 40}, {"seed", 1}});
  auto b =
      make_stage<DebugDelay>(debug_delay_schema(), {{"min_ms", 5}, {"max_ms", 40}, {"seed", 1}});
  auto c =
      make_stage<DebugDelay>(debug_delay_schema(), {{"min_ms", 5}, {"max_ms", 40}, {"seed", 2}});
  std::set<int64_t> seen;
  int same_as_other_seed = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    int64_t d = a->delay_ms(i);
    CHECK(d >= 5);
    CHECK(d <= 40);
    CHECK(b->delay_ms(i) == d);
    same_as_other_seed += c->delay_ms(i) == d;
    seen.insert(d);
  }
  CHECK(seen.size() > 25);         // spread over the range, both ends reachable
  CHECK(same_as_other_seed < 30);  // another seed, another schedule
  CHECK(seen.count(5) + seen.count(40) > 0);

  // It really sleeps that long.
  Item in;
  in.index = 7;
  Item out;
  a->open(context());
  auto t0 = Clock::now();
  a->process(in, out);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  CHECK(ms >= a->delay_ms(7));
}

TEST_CASE("debug.delay stops sleeping when the run is cancelled and rejects min > max",
          "[io][debug.delay]") {
  auto stage = make_stage<DebugDelay>(debug_delay_schema(), {{"min_ms", 20000}, {"max_ms", 20000}});
  std::atomic<bool> cancelled{false};
  StageContext ctx = context();
  ctx.cancelled = &cancelled;
  stage->open(ctx);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancelled = true;
  });
  Item in, out;
  auto t0 = Clock::now();
  stage->process(in, out);
  canceller.join();
  CHECK(Clock::now() - t0 < std::chrono::seconds(5));

  CHECK_THROWS_WITH(make_stage<DebugDelay>(debug_delay_schema(), {{"min_ms", 10}, {"max_ms", 5}}),
                    Contains("min_ms (10) is larger than max_ms (5)"));
}
