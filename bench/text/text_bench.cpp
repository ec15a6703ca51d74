// embedflow's side of the text benchmark: encodes a file of sentences (one per line) with a
// sentence-transformers folder and prints one JSON object with the throughput, the token count,
// the GEMM peak measured now and the fraction of the GEMM roofline reached. Run by
// bench/text/run_bench.py, which runs the PyTorch reference beside it.
//
//   text_bench --model DIR --sentences FILE [--threads 2] [--batch 32] [--precision fp32|int8|bf16]
//              [--one-batch-at-a-time] [--order sorted|source] [--padded] [--repeat 3]
//              [--save out.npy]
//
// By default the timed call is what users call, SentenceTransformer::encode(sentences); the other
// options run the batches one by one through embed() to measure the cost of each choice.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "embedflow/npy.h"
#include "models/sentence_transformer.h"
#include "models/torch_runtime.h"
#include "models/transformer/text_model.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of the whole process (all threads), user + system. Beside wall time it shows work
// done: on a loaded machine wall time drifts, CPU time much less (with OMP_WAIT_POLICY=passive,
// so that threads waiting at barriers sleep instead of spinning).
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"embedflow text encoder benchmark"};
  std::string model, sentences_file, precision = "fp32", order = "sorted", save;
  int threads = 2, repeat = 3;
  int64_t batch = 32;
  bool padded = false, one_batch_at_a_time = false;
  app.add_option("--model", model, "sentence-transformers folder")->required();
  app.add_option("--sentences", sentences_file, "UTF-8 file, one sentence per line")->required();
  app.add_option("--threads", threads, "intra-op threads");
  app.add_option("--batch", batch, "sentences per forward pass");
  app.add_option("--precision", precision, "fp32, int8 or bf16");
  app.add_flag("--one-batch-at-a-time", one_batch_at_a_time,
               "each batch's forward on all threads in turn, instead of encode()'s batches side "
               "by side");
  app.add_option("--order", order, "sorted: longest first (as sentence-transformers); source");
  app.add_flag("--padded", padded,
               "pad every sequence to its batch's longest (cost of a padded implementation; "
               "the numbers are not meaningful, only the time)");
  app.add_option("--repeat", repeat, "timed runs (the best is reported)");
  app.add_option("--save", save, "write the embeddings (source order) to this .npy");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> sentences;
  {
    std::ifstream f(sentences_file);
    std::string line;
    while (std::getline(f, line)) sentences.push_back(line);
  }
  embedflow::models::set_intra_op_threads(threads);
  embedflow::models::SentenceTransformerOptions opt;
  opt.precision = precision;
  opt.threads = threads;
  opt.batch_size = batch;
  auto enc = embedflow::models::SentenceTransformer::load(model, opt);

  // The run timed: tokenise, order, batch, forward, pool, normalise. encode() itself, or the
  // same steps batch by batch with the order and padding switchable to measure their cost.
  const bool by_batch = one_batch_at_a_time || order != "sorted" || padded;
  auto run = [&]() {
    if (!by_batch) return std::make_pair(enc->encode(sentences), int64_t{-1});  // no padding
    std::vector<std::vector<int32_t>> ids;
    for (const auto& s : sentences) ids.push_back(enc->tokenize(s));
    std::vector<size_t> idx(ids.size());
    std::iota(idx.begin(), idx.end(), 0);
    if (order == "sorted")
      std::stable_sort(idx.begin(), idx.end(),
                       [&](size_t a, size_t b) { return ids[a].size() > ids[b].size(); });
    embedflow::Tensor out(embedflow::DType::F32, {static_cast<int64_t>(ids.size()), enc->dim()});
    int64_t tokens = 0;
    for (size_t s = 0; s < idx.size(); s += static_cast<size_t>(batch)) {
      const size_t e = std::min(idx.size(), s + static_cast<size_t>(batch));
      std::vector<std::vector<int32_t>> b;
      size_t longest = 0;
      for (size_t i = s; i < e; ++i) longest = std::max(longest, ids[idx[i]].size());
      for (size_t i = s; i < e; ++i) {
        b.push_back(ids[idx[i]]);
        if (padded) b.back().resize(longest, 0);
        tokens += static_cast<int64_t>(b.back().size());
      }
      embedflow::Tensor r = enc->encode(b, threads);
      for (size_t i = s; i < e; ++i)
        std::copy(r.data<float>() + (i - s) * enc->dim(),
                  r.data<float>() + (i - s + 1) * enc->dim(),
                  out.data<float>() + idx[i] * enc->dim());
    }
    return std::make_pair(out, tokens);
  };

  run();  // warm-up
  double best = 1e30, best_cpu = 1e30;
  embedflow::Tensor result;
  int64_t tokens = 0;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = process_cpu_seconds();
    auto [out, n_tokens] = run();
    best = std::min(best, seconds_since(t0));
    best_cpu = std::min(best_cpu, process_cpu_seconds() - cpu0);
    result = out;
    tokens = n_tokens;
  }
  if (!save.empty()) embedflow::write_npy(save, result);

  int64_t real_tokens = 0;
  for (const auto& s : sentences) real_tokens += static_cast<int64_t>(enc->tokenize(s).size());
  if (tokens < 0) tokens = real_tokens;
  // GEMM peak now, on this machine, at these threads: best of the model's own GEMM shapes for
  // a batch of ~32 sentences and a large square one.
  const int64_t h = enc->hidden_size(),
                m = std::max<int64_t>(256,
                                      real_tokens * batch / static_cast<int64_t>(sentences.size()));
  double peak = 0;
  for (auto [mm, nn, kk] :
       {std::array<int64_t, 3>{m, 3 * h, h}, {m, 4 * h, h}, {m, h, 4 * h}, {1024, 1024, 1024}})
    peak = std::max(peak, embedflow::models::measure_gemm_gflops(mm, nn, kk, 5));
  const double flops = enc->linear_flops(real_tokens);
  const double roofline_s = flops / (peak * 1e9);

  nlohmann::json j = {
      {"impl", "embedflow"},
      {"precision", precision},
      {"order", order},
      {"padded", padded},
      {"one_batch_at_a_time", by_batch},
      {"threads", threads},
      {"batch", batch},
      {"sentences", sentences.size()},
      {"tokens", real_tokens},
      {"tokens_computed", tokens},
      {"seconds", best},
      {"cpu_seconds", best_cpu},
      {"sentences_per_s", static_cast<double>(sentences.size()) / best},
      {"gemm_peak_gflops", peak},
      {"linear_gflop", flops / 1e9},
      {"roofline_sentences_per_s", static_cast<double>(sentences.size()) / roofline_s},
      {"roofline_fraction", roofline_s / best},
      {"model", enc->describe()},
      {"torch", embedflow::models::torch_build_summary()},
  };
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
