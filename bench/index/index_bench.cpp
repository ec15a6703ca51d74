// Vector index benchmark: exact brute force against FAISS's HNSW and IVF on a Gaussian mixture of
// unit vectors (queries drawn from the same mixture), one run, one machine.
//
//   index_bench [--n 100000] [--dim 384] [--queries 1000] [--clusters 1000] [--spread 1.0]
//               [--threads 2] [--m 32] [--ef-construction 128] [--ef-search 128]
//               [--nlist 0] [--nprobe 32] [--kinds hnsw,ivf] [--ef-sweep 32,64]
//               [--nprobe-sweep 8,16] [--json]
//
// The baseline is score.cosine's exact top-k: CosineScorer (models/similarity.h), the blocked
// GEMM (the fixed-order GEMM over 16,384 corpus rows at a time, on TBB's threads) and the merge
// of candidates, on blocks of 256 queries as the stage runs them; its "build" is normalising and
// packing the corpus. Its hits are the ground truth of recall@10.
// FAISS's exact IndexFlatIP is timed beside it. Each approximate index is built with its
// write.index defaults unless told otherwise (stages/index/vector_index.h), timed, then searched
// two ways, at its own ef_search / nprobe and at each of the sweep's: all queries at once on
// --threads threads (throughput; the ratio is to brute force's blocks of 256 queries on as many
// threads), and one query per call on one thread, as search.index runs it in a pipeline (the
// ratio is to brute force one query per call on one thread, a pass over the whole corpus each).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <tbb/global_control.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "models/similarity.h"
#include "models/torch_runtime.h"
#include "stages/index/vector_index.h"

using namespace embedflow;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// `clusters` random unit centres; each point is a centre plus Gaussian noise of norm about
// `spread` (relative to the centre's 1), normalised. Queries come from the same centres.
struct Mixture {
  int64_t d;
  std::vector<float> centres;
  Mixture(int64_t dim, int64_t clusters, uint32_t seed) : d(dim) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    centres.resize(static_cast<size_t>(clusters * d));
    for (auto& v : centres) v = normal(rng);
    models::l2_normalize_rows(centres.data(), clusters, d);
  }
  std::vector<float> draw(int64_t n, float spread, uint32_t seed) const {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    const auto clusters = static_cast<int64_t>(centres.size()) / d;
    std::uniform_int_distribution<int64_t> pick(0, clusters - 1);
    const float sigma = spread / std::sqrt(static_cast<float>(d));
    std::vector<float> x(static_cast<size_t>(n * d));
    for (int64_t r = 0; r < n; ++r) {
      const int64_t c = pick(rng);
      for (int64_t j = 0; j < d; ++j) x[r * d + j] = centres[c * d + j] + sigma * normal(rng);
    }
    models::l2_normalize_rows(x.data(), n, d);
    return x;
  }
};

double recall(const std::vector<int64_t>& got, const std::vector<std::vector<int64_t>>& truth,
              int64_t k) {
  int64_t found = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    const std::set<int64_t> want(truth[q].begin(), truth[q].end());
    for (int64_t i = 0; i < k; ++i) found += want.count(got[q * k + i]);
  }
  return double(found) / double(truth.size() * k);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"index_bench: brute force vs FAISS HNSW and IVF on clustered vectors"};
  int64_t n = 100000, dim = 384, nq = 1000, clusters = 1000, k = 10;
  float spread = 1.0f;
  int threads = 2;
  vindex::BuildOptions defaults;
  int64_t m = defaults.m, efc = defaults.ef_construction, efs = defaults.ef_search,
          nlist = defaults.nlist, nprobe = defaults.nprobe;
  std::string kinds = "hnsw,ivf";
  bool json = false;
  app.add_option("--n", n, "corpus vectors");
  app.add_option("--dim", dim, "width");
  app.add_option("--queries", nq, "queries");
  app.add_option("--clusters", clusters, "mixture components");
  app.add_option("--spread", spread, "noise norm relative to the centres' (1)");
  app.add_option("--threads", threads, "threads for building and batch search");
  app.add_option("--m", m, "hnsw links per node");
  app.add_option("--ef-construction", efc, "hnsw build candidates");
  app.add_option("--ef-search", efs, "hnsw query candidates");
  app.add_option("--nlist", nlist, "ivf lists (0: auto)");
  app.add_option("--nprobe", nprobe, "ivf lists per query");
  app.add_option("--kinds", kinds, "comma-separated: hnsw, ivf");
  std::vector<int64_t> ef_sweep{32, 64}, nprobe_sweep{8, 16};
  app.add_option("--ef-sweep", ef_sweep, "hnsw: more ef_search values to search with")
      ->delimiter(',');
  app.add_option("--nprobe-sweep", nprobe_sweep, "ivf: more nprobe values to search with")
      ->delimiter(',');
  app.add_flag("--json", json, "also print one JSON line");
  CLI11_PARSE(app, argc, argv);

  const Mixture mix(dim, clusters, 7);
  std::vector<float> corpus = mix.draw(n, spread, 8);
  const std::vector<float> queries = mix.draw(nq, spread, 9);
  std::printf(
      "CPU: %s; %d threads; corpus %lld x %lld (%lld clusters, spread %.2f), %lld "
      "queries, k %lld\n",
      cpu_name().c_str(), threads, static_cast<long long>(n), static_cast<long long>(dim),
      static_cast<long long>(clusters), spread, static_cast<long long>(nq),
      static_cast<long long>(k));
  nlohmann::json report = {{"cpu", cpu_name()}, {"threads", threads}, {"n", n},
                           {"dim", dim},        {"queries", nq},      {"clusters", clusters},
                           {"spread", spread}};

  // Brute force as score.cosine runs it: blocks of 256 queries against the whole corpus, on
  // TBB's threads (capped at --threads), the corpus normalised and packed once ("build").
  models::set_intra_op_threads(threads);
  std::optional<tbb::global_control> cap;
  cap.emplace(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
  Tensor corpus_t = Tensor::from_vector(corpus, {n, dim});
  auto t0 = std::chrono::steady_clock::now();
  CosineScorer scorer(corpus_t);
  const double brute_build_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<int64_t>> truth;
  for (int64_t q0 = 0; q0 < nq; q0 += 256) {
    const int64_t q1 = std::min(nq, q0 + 256);
    Tensor block = Tensor::from_vector(
        std::vector<float>(queries.begin() + q0 * dim, queries.begin() + q1 * dim), {q1 - q0, dim});
    for (auto& hits : scorer.top_k(block, k)) {
      truth.emplace_back();
      for (const auto& h : hits) truth.back().push_back(h.index);
    }
  }
  const double brute_s = seconds_since(t0);
  const double brute_qps = double(nq) / brute_s;
  std::printf("%-28s %10s %9s %12s %9s %14s %9s\n", "method", "build s", "recall@10", "queries/s",
              "ratio", "1 query/call", "ratio");
  std::printf("%-28s %10.2f %9.4f %12.0f %9s %14s %9s\n", "brute force (GEMM, blocks)",
              brute_build_s, 1.0, brute_qps, "1.00x", "", "");
  report["brute_force"] = {{"qps", brute_qps}, {"build_s", brute_build_s}};

  // One query per call on one thread: score.cosine given a single query (each a pass over the
  // whole corpus, bound by memory bandwidth rather than arithmetic).
  models::set_intra_op_threads(1);
  cap.emplace(tbb::global_control::max_allowed_parallelism, size_t{1});
  int64_t nq1 = 0;
  t0 = std::chrono::steady_clock::now();
  for (; nq1 < nq && (nq1 < 20 || seconds_since(t0) < 3); ++nq1) {
    Tensor one = Tensor::from_vector(
        std::vector<float>(queries.begin() + nq1 * dim, queries.begin() + (nq1 + 1) * dim),
        {1, dim});
    scorer.top_k(one, k);
  }
  const double brute1_qps = double(nq1) / seconds_since(t0);
  models::set_intra_op_threads(threads);
  cap.reset();
  report["brute_force"]["qps_1_thread"] = brute1_qps;
  std::printf("%-28s %10s %9s %12s %9s %14.0f %9s\n", "brute force, 1 query/call", "-", "1.0000",
              "", "", brute1_qps, "1.00x");

  auto measure = [&](const std::string& name, const vindex::VectorIndex& index, double build_s,
                     int64_t ef, int64_t probe) {
    std::vector<int64_t> got;
    std::vector<float> scores;
    omp_set_num_threads(threads);
    t0 = std::chrono::steady_clock::now();
    index.search_batch(queries.data(), nq, k, got, scores, ef, probe);
    const double qps = double(nq) / seconds_since(t0);
    const double r = recall(got, truth, k);
    // One query per call on one thread (search() pins its call to one OpenMP thread).
    // At most 3 s of them (a flat index over millions of rows is slow one query at a time).
    int64_t done = 0;
    t0 = std::chrono::steady_clock::now();
    for (; done < nq && (done < 20 || seconds_since(t0) < 3); ++done)
      index.search(queries.data() + done * dim, k, ef, probe);
    const double qps1 = double(done) / seconds_since(t0);
    char build[32] = "";
    if (build_s >= 0) std::snprintf(build, sizeof build, "%.2f", build_s);
    std::printf("%-28s %10s %9.4f %12.0f %8.2fx %14.0f %8.2fx\n", name.c_str(), build, r, qps,
                qps / brute_qps, qps1, qps1 / brute1_qps);
    std::fflush(stdout);
    report[name] = {{"build_s", build_s},   {"recall_at_10", r},
                    {"qps", qps},           {"ratio", qps / brute_qps},
                    {"qps_1_thread", qps1}, {"ratio_1_thread", qps1 / brute1_qps}};
  };
  auto run = [&](const std::string& name, vindex::BuildOptions o,
                 const std::vector<int64_t>& sweep) {
    o.threads = threads;
    std::vector<float> rows = corpus;
    t0 = std::chrono::steady_clock::now();
    const auto index = vindex::VectorIndex::build(o, rows, dim);
    const double build_s = seconds_since(t0);
    measure(name, index, build_s, 0, 0);
    for (int64_t v : sweep) {
      if (o.kind == "hnsw") measure("  ef_search " + std::to_string(v), index, -1, v, 0);
      if (o.kind == "ivf") measure("  nprobe " + std::to_string(v), index, -1, 0, v);
    }
  };

  vindex::BuildOptions flat;
  flat.kind = "flat";
  run("faiss flat (exact)", flat, {});
  std::stringstream list(kinds);
  for (std::string kind; std::getline(list, kind, ',');) {
    vindex::BuildOptions o;
    o.kind = kind;
    o.m = m;
    o.ef_construction = efc;
    o.ef_search = efs;
    o.nlist = nlist;
    o.nprobe = nprobe;
    std::string name = kind;
    if (kind == "hnsw")
      name += " m" + std::to_string(m) + " efc" + std::to_string(efc) + " ef" + std::to_string(efs);
    if (kind == "ivf")
      name += " nl" + (nlist ? std::to_string(nlist) : std::to_string(vindex::auto_nlist(n))) +
              " np" + std::to_string(nprobe);
    run(name, o, kind == "hnsw" ? ef_sweep : nprobe_sweep);
  }
  if (json) std::printf("%s\n", report.dump().c_str());
  return 0;
}
