// The CPU-level utility every kernel family dispatches through (embedflow/cpu.h): names,
// detection, EMBEDFLOW_CPU (the ctest entries that rerun suites with EMBEDFLOW_CPU=baseline run
// this too), clamping, and the table lookup.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "embedflow/cpu.h"

namespace cpu = embedflow::cpu;

TEST_CASE("cpu levels: names round-trip, unknown names are refused") {
  for (int i = 0; i < cpu::kLevelCount; ++i) {
    const auto level = static_cast<cpu::Level>(i);
    CHECK(cpu::parse_level(cpu::level_name(level)) == level);
  }
  CHECK(cpu::level_name(cpu::Level::Avx2) == "avx2");
  CHECK_FALSE(cpu::parse_level("AVX2").has_value());
  CHECK_FALSE(cpu::parse_level("").has_value());
}

TEST_CASE("cpu levels: EMBEDFLOW_CPU lowers the level in effect, never above the CPU's") {
  const std::vector<cpu::Level> runnable = cpu::runnable_levels();
  REQUIRE(runnable.front() == cpu::Level::Baseline);
  CHECK(runnable.back() == cpu::detected_level());
  CHECK(runnable.size() == static_cast<size_t>(cpu::detected_level()) + 1);

  cpu::Level expected = cpu::detected_level();
  if (const char* env = std::getenv("EMBEDFLOW_CPU"))
    if (const auto asked = cpu::parse_level(env)) expected = std::min(*asked, expected);
  CHECK(cpu::active_level() == expected);

  {
    const cpu::ScopedLevelForTesting at(cpu::Level::Amx);  // clamped
    CHECK(cpu::active_level() == cpu::detected_level());
  }
  {
    const cpu::ScopedLevelForTesting at(cpu::Level::Baseline);
    CHECK(cpu::active_level() == cpu::Level::Baseline);
  }
  CHECK(cpu::active_level() == expected);
}

TEST_CASE("cpu levels: pick takes the highest build at or below the level") {
  struct Table {
    int id;
  };
  const Table baseline{0}, avx2{1}, vnni{3};
  const cpu::Builds<Table> builds{&baseline, &avx2, nullptr, &vnni, nullptr, nullptr};
  CHECK(cpu::pick(builds, cpu::Level::Baseline).id == 0);
  CHECK(cpu::pick(builds, cpu::Level::Avx2).id == 1);
  CHECK(cpu::pick(builds, cpu::Level::Avx512).id == 1);
  CHECK(cpu::pick(builds, cpu::Level::Avx512Vnni).id == 3);
  CHECK(cpu::pick(builds, cpu::Level::Avx512Bf16).id == 3);
  CHECK(cpu::pick(builds, cpu::Level::Amx).id == 3);
  const cpu::Builds<Table> only_baseline{&baseline};
  CHECK(&cpu::pick(only_baseline, cpu::Level::Amx) == &baseline);
}
