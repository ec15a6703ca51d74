// Which instruction-set level the hand-written kernels run at, and the one way they are picked.
//
// The build stays portable (no -march), so every kernel family (audio front end, BERT, ResNet's
// Winograd transforms) is compiled once per level from a single implementation file and the
// build matching the CPU is looked up in a table at run time (docs/architecture.md, "CPU
// dispatch"). EMBEDFLOW_CPU=baseline|avx2|avx512|… forces a lower level, so that one machine can
// run every path the tests cover; it never raises the level above what the CPU has.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace embedflow::cpu {

// Ordered: each level includes everything below it.
enum class Level : uint8_t {
  Baseline,    // x86-64 (SSE2), or any other architecture
  Avx2,        // AVX2 + FMA (x86-64-v3's vector part)
  Avx512,      // AVX-512 F, BW, VL, DQ (x86-64-v4)
  Avx512Vnni,  // + VNNI (int8 dot products)
  Avx512Bf16,  // + BF16
  Amx,         // + AMX tiles with their int8 and bf16 products, granted by the OS
};
constexpr int kLevelCount = 6;

// "baseline", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx": EMBEDFLOW_CPU's values.
std::string_view level_name(Level level);
std::optional<Level> parse_level(std::string_view name);

// The highest level this CPU (and its OS) supports.
Level detected_level();
// The level kernels run at: detected_level(), lowered by EMBEDFLOW_CPU (read once; a value above
// the CPU's level is clamped, and an unknown one ignored, each said once on stderr) or by
// set_level_for_testing.
Level active_level();
// Every level up to detected_level(), lowest first: what tests iterate over.
std::vector<Level> runnable_levels();

// Makes kernels run at `level` (clamped to detected_level()) until the next call, whatever
// EMBEDFLOW_CPU says; returns the level now in effect. Kernel families look the level up on each
// call, so this applies at once.
Level set_level_for_testing(Level level);

// set_level_for_testing for a scope, then back to the level before.
class ScopedLevelForTesting {
 public:
  explicit ScopedLevelForTesting(Level level) : before_(active_level()) {
    set_level_for_testing(level);
  }
  ~ScopedLevelForTesting() { set_level_for_testing(before_); }
  ScopedLevelForTesting(const ScopedLevelForTesting&) = delete;
  ScopedLevelForTesting& operator=(const ScopedLevelForTesting&) = delete;

 private:
  Level before_;
};

// One build of a kernel family's table per level, null where the family has no build of its
// own (the next lower build then serves it). Slot 0, the baseline, is always built.
template <class Table>
using Builds = std::array<const Table*, kLevelCount>;

// The build for `level`: the highest one at or below it.
template <class Table>
const Table& pick(const Builds<Table>& builds, Level level = active_level()) {
  for (int i = static_cast<int>(level); i > 0; --i)
    if (builds[i]) return *builds[i];
  return *builds[0];
}

}  // namespace embedflow::cpu

// For helpers that kernel implementation files share through headers (outside their level's
// namespace): always inlined, so that no out-of-line copy compiled with one level's flags can be
// the one the linker keeps for every level's callers.
#define EMBEDFLOW_KERNEL_INLINE inline __attribute__((always_inline))
