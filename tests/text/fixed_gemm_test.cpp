// The fixed-order fp32 GEMM (models/transformer/fixed_gemm.h), every level's build in one
// process: close to a double-precision GEMM of the same inputs, and each output row the same
// bytes whatever the row count, the row's place, the panel split or the accumulate form —
// checked byte for byte against that row computed alone.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "embedflow/cpu.h"
#include "models/transformer/fixed_gemm.h"

namespace {

namespace fg = embedflow::models::transformer::fixed_gemm;
namespace cpu = embedflow::cpu;

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// The levels this CPU runs that have a build of their own.
std::vector<cpu::Level> levels_here() {
  std::vector<cpu::Level> out;
  for (const cpu::Level l : {cpu::Level::Baseline, cpu::Level::Avx2, cpu::Level::Avx512})
    if (l <= cpu::detected_level()) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("fixed-order gemm: close to a double-precision GEMM at every level") {
  std::mt19937 rng(11);
  for (const cpu::Level level : levels_here()) {
    const fg::Kernels& k = fg::table(level);
    INFO("build " << k.build);
    CHECK(std::string(k.build) == cpu::level_name(level));
    // n: under one panel, whole panels, a ragged last panel; k: odd, long.
    for (const auto& [n, kk] :
         std::vector<std::pair<int64_t, int64_t>>{{5, 3}, {64, 384}, {37, 1001}}) {
      INFO("n = " << n << ", k = " << kk);
      // W as [k, n] (stride_n 1), as the convolution engine keeps it.
      const std::vector<float> w = random_floats(static_cast<size_t>(n * kk), rng);
      const fg::PackedWeights packed(w.data(), n, kk, 1, n, k);
      for (const int64_t m : {1, 7, 13}) {
        const std::vector<float> a = random_floats(static_cast<size_t>(m * kk), rng);
        std::vector<float> out(static_cast<size_t>(m * n), 0.5f);
        packed.run(a.data(), kk, m, out.data(), n, /*accumulate=*/true);
        for (int64_t r = 0; r < m; ++r)
          for (int64_t c = 0; c < n; ++c) {
            double ref = 0.5, mag = 0;
            for (int64_t i = 0; i < kk; ++i) {
              ref += static_cast<double>(a[r * kk + i]) * w[i * n + c];
              mag += std::fabs(static_cast<double>(a[r * kk + i]) * w[i * n + c]);
            }
            // fp32 summation error bound: k · ε · Σ|terms| (loose; typical errors are far less).
            REQUIRE(std::fabs(out[r * n + c] - ref) <= 1e-6 * kk * mag + 1e-6);
          }
      }
    }
  }
}

TEST_CASE("fixed-order gemm: a row is the same bytes in any batch at every level") {
  std::mt19937 rng(5);
  const int64_t n = 70, kk = 257;
  const std::vector<float> w = random_floats(static_cast<size_t>(n * kk), rng);
  const int64_t m_max = 41;
  const std::vector<float> a = random_floats(static_cast<size_t>(m_max * kk), rng);
  for (const cpu::Level level : levels_here()) {
    const fg::Kernels& k = fg::table(level);
    INFO("build " << k.build);
    // W as [n, k] (stride_k 1), as a Linear keeps it.
    const fg::PackedWeights packed(w.data(), n, kk, kk, 1, k);
    // Each row alone: the reference bytes.
    std::vector<float> alone(static_cast<size_t>(m_max * n));
    for (int64_t r = 0; r < m_max; ++r)
      packed.run(a.data() + r * kk, kk, 1, alone.data() + r * n, n, false);
    // Every batch [start, start + m): rows land in every tile position and remainder tile.
    for (int64_t start = 0; start < 8; ++start)
      for (int64_t m = 1; start + m <= m_max; ++m) {
        std::vector<float> out(static_cast<size_t>(m * n));
        packed.run(a.data() + start * kk, kk, m, out.data(), n, false);
        REQUIRE(std::memcmp(out.data(), alone.data() + start * n,
                            static_cast<size_t>(m * n) * sizeof(float)) == 0);
      }
    // Panels one at a time (as threads split them), into an output with a wider row stride; out
    // points at the panel's first column.
    const int64_t ldo = n + 3;
    std::vector<float> split(static_cast<size_t>(m_max * ldo));
    for (int64_t p = 0; p < packed.panels(); ++p)
      packed.run(a.data(), kk, m_max, split.data() + p * k.nr, ldo, false, p, p + 1);
    for (int64_t r = 0; r < m_max; ++r)
      REQUIRE(std::memcmp(split.data() + r * ldo, alone.data() + r * n, n * sizeof(float)) == 0);
    // Every cut for 1 to 8 threads, its tasks run in reverse order, over all panels and over a
    // range of them (a top-k block of the corpus): the same bytes.
    for (const int64_t threads : {1, 2, 3, 8})
      for (const auto& [p_begin, p_end] :
           std::vector<std::pair<int64_t, int64_t>>{{0, packed.panels()}, {1, packed.panels()}}) {
        INFO(threads << " threads, panels " << p_begin << ".." << p_end);
        const fg::Split cut = packed.split(m_max, threads, p_begin, p_end);
        const int64_t first = p_begin * k.nr, width = std::min(n, p_end * k.nr) - first;
        std::vector<float> tasks(static_cast<size_t>(m_max * ldo));
        for (int64_t t = cut.tasks() - 1; t >= 0; --t)
          packed.run_task(cut, t, a.data(), m_max, tasks.data(), ldo, false);
        for (int64_t r = 0; r < m_max; ++r)
          REQUIRE(std::memcmp(tasks.data() + r * ldo, alone.data() + r * n + first,
                              static_cast<size_t>(width) * sizeof(float)) == 0);
      }
    // accumulate onto zeros gives 0 + acc = acc: the same bytes again.
    std::vector<float> acc(static_cast<size_t>(m_max * n), 0.0f);
    packed.run(a.data(), kk, m_max, acc.data(), n, true);
    REQUIRE(std::memcmp(acc.data(), alone.data(), acc.size() * sizeof(float)) == 0);
  }
}
