// The encoder's fp32 GEMM paths side by side at all-MiniLM-L6-v2's shapes, one process,
// alternating rounds: the fixed-order GEMM (models/transformer/fixed_gemm.h, batch-invariant)
// against oneDNN's sgemm (what the Linear layers ran below AVX-512 before, row-count-dependent
// order). Prints GFLOP/s of each and their ratio, per shape and row count. Run it at the level
// whose path you want:
//   EMBEDFLOW_CPU=avx2 ONEDNN_MAX_CPU_ISA=AVX2 build/bench/text/gemm_bench --threads 2
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "embedflow/cpu.h"
#include "models/torch_runtime.h"
#include "models/transformer/fixed_gemm.h"

namespace {

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

template <class F>
double seconds_per_call(const F& f, double budget) {
  f();  // warm-up
  int calls = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    f();
    ++calls;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < budget);
  return elapsed / calls;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("fixed-order GEMM against oneDNN's sgemm");
  int threads = 2, rounds = 3;
  double budget = 0.3;
  std::vector<int64_t> rows = {12, 64, 256, 1024};
  app.add_option("--threads", threads);
  app.add_option("--rounds", rounds);
  app.add_option("--seconds", budget, "time per measurement");
  app.add_option("--rows", rows);
  CLI11_PARSE(app, argc, argv);
  embedflow::models::set_intra_op_threads(threads);
  namespace fg = embedflow::models::transformer::fixed_gemm;
  const fg::Kernels& kernels = fg::table();
  std::printf("CPU: %s; level %s (fixed-order build %s); %d threads\n", cpu_name().c_str(),
              std::string(embedflow::cpu::level_name(embedflow::cpu::active_level())).c_str(),
              kernels.build, threads);
  std::printf("%-22s %6s %12s %12s %8s\n", "shape (n x k)", "rows", "fixed GF/s", "sgemm GF/s",
              "ratio");
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  // MiniLM-L6: QKV, attention output, FFN in, FFN out.
  const std::pair<int64_t, int64_t> shapes[] = {{1152, 384}, {384, 384}, {1536, 384}, {384, 1536}};
  double log_sum = 0;
  int count = 0;
  for (const auto& [n, k] : shapes) {
    std::vector<float> w(static_cast<size_t>(n * k));
    for (auto& x : w) x = d(rng);
    const fg::PackedWeights packed(w.data(), n, k, k, 1, kernels);
    for (const int64_t m : rows) {
      std::vector<float> a(static_cast<size_t>(m * k)), out(static_cast<size_t>(m * n));
      for (auto& x : a) x = d(rng);
      std::vector<double> fixed_s, sgemm_s;
      for (int r = 0; r < rounds; ++r) {
        fixed_s.push_back(seconds_per_call(
            [&] {
              // Split as transformer::Linear splits it, on the intra-op threads.
              const fg::Split split = packed.split(m, threads, 0, packed.panels());
              const int workers = static_cast<int>(std::min<int64_t>(threads, split.tasks()));
              embedflow::models::run_on_intra_op_threads(workers, [&](int worker) {
                for (int64_t t = worker; t < split.tasks(); t += workers)
                  packed.run_task(split, t, a.data(), m, out.data(), n, false);
              });
            },
            budget));
        sgemm_s.push_back(seconds_per_call(
            [&] {
              dnnl_sgemm('N', 'T', m, n, k, 1.0f, a.data(), k, w.data(), k, 0.0f, out.data(), n);
            },
            budget));
      }
      std::sort(fixed_s.begin(), fixed_s.end());
      std::sort(sgemm_s.begin(), sgemm_s.end());
      const double flop = 2.0 * static_cast<double>(m * n * k);
      const double f = flop / fixed_s[fixed_s.size() / 2] / 1e9;
      const double s = flop / sgemm_s[sgemm_s.size() / 2] / 1e9;
      log_sum += std::log(f / s);
      ++count;
      std::printf("%5lld x %-16lld %6lld %12.1f %12.1f %7.2fx\n", static_cast<long long>(n),
                  static_cast<long long>(k), static_cast<long long>(m), f, s, f / s);
    }
  }
  std::printf("geometric mean ratio (fixed / sgemm): %.2fx\n", std::exp(log_sum / count));
  return 0;
}
