#include "embedflow/cpu.h"

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace embedflow::cpu {

namespace {

constexpr std::string_view kNames[kLevelCount] = {"baseline",   "avx2",       "avx512",
                                                  "avx512vnni", "avx512bf16", "amx"};

#if defined(__x86_64__) && defined(__linux__)
// AMX needs the CPU's three features (CPUID leaf 7: EDX bits 22, 24, 25) and the kernel's leave
// to use the 8 KiB tile state, which a process asks for once (Linux 5.16+); without that leave,
// the first tile instruction faults.
bool amx_usable() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  constexpr unsigned kAmxBf16 = 1u << 22, kAmxTile = 1u << 24, kAmxInt8 = 1u << 25;
  if ((edx & (kAmxBf16 | kAmxTile | kAmxInt8)) != (kAmxBf16 | kAmxTile | kAmxInt8)) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureTileData = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureTileData) == 0;
}
#else
bool amx_usable() {
  return false;
}
#endif

Level detect() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  // libgcc's checks include the OS side (XGETBV): a CPU with AVX-512 under an OS that does not
  // save its registers reports no AVX-512.
  __builtin_cpu_init();
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return Level::Baseline;
  if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")))
    return Level::Avx2;
  if (!__builtin_cpu_supports("avx512vnni")) return Level::Avx512;
  if (!__builtin_cpu_supports("avx512bf16")) return Level::Avx512Vnni;
  if (!amx_usable()) return Level::Avx512Bf16;
  return Level::Amx;
#else
  return Level::Baseline;
#endif
}

// The level EMBEDFLOW_CPU asks for, if any, within what the CPU has.
Level level_from_environment() {
  const Level cpu = detected_level();
  const char* value = std::getenv("EMBEDFLOW_CPU");
  if (!value || !*value) return cpu;
  const std::optional<Level> asked = parse_level(value);
  const std::string using_cpu(level_name(cpu));
  if (!asked) {
    std::fprintf(stderr,
                 "embedflow: EMBEDFLOW_CPU=%s is not a CPU level (baseline, avx2, avx512, "
                 "avx512vnni, avx512bf16, amx); using %s\n",
                 value, using_cpu.c_str());
    return cpu;
  }
  if (*asked > cpu) {
    std::fprintf(stderr, "embedflow: EMBEDFLOW_CPU=%s, but this CPU supports up to %s; using %s\n",
                 value, using_cpu.c_str(), using_cpu.c_str());
    return cpu;
  }
  return *asked;
}

std::atomic<int> g_forced_level{-1};  // set_level_for_testing's, or -1

}  // namespace

std::string_view level_name(Level level) {
  return kNames[static_cast<int>(level)];
}

std::optional<Level> parse_level(std::string_view name) {
  for (int i = 0; i < kLevelCount; ++i)
    if (name == kNames[i]) return static_cast<Level>(i);
  return std::nullopt;
}

Level detected_level() {
  static const Level level = detect();
  return level;
}

Level active_level() {
  static const Level from_environment = level_from_environment();
  const int forced = g_forced_level.load(std::memory_order_relaxed);
  return forced >= 0 ? static_cast<Level>(forced) : from_environment;
}

std::vector<Level> runnable_levels() {
  std::vector<Level> levels;
  for (int i = 0; i <= static_cast<int>(detected_level()); ++i)
    levels.push_back(static_cast<Level>(i));
  return levels;
}

Level set_level_for_testing(Level level) {
  const Level effective = level > detected_level() ? detected_level() : level;
  g_forced_level.store(static_cast<int>(effective), std::memory_order_relaxed);
  return effective;
}

}  // namespace embedflow::cpu
