// embedflow's side of bench/image/run_bench.py. Prints one JSON line per measurement.
//
//   image_bench model --model resnet50.safetensors --batch 16 --threads 2 --seconds 10
//   image_bench e2e --model resnet50.safetensors --dir jpegs/ --threads 2
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "embedflow/config.h"
#include "embedflow/executor.h"
#include "models/resnet.h"
#include "models/torch_runtime.h"
#include "stages/builtin.h"

using namespace embedflow;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int bench_model(const std::string& model, int batch, int threads, double budget, bool fold,
                bool channels_last) {
  models::ImageEncoderOptions opt;
  opt.fold_batchnorm = fold;
  opt.channels_last = channels_last;
  auto enc = models::ImageEncoder::load(model, opt);
  Tensor x(DType::F32, {batch, 3, 224, 224});
  std::mt19937 rng(0);
  std::normal_distribution<float> n01;
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = n01(rng);
  for (int i = 0; i < 2; ++i) enc->encode(x, threads);  // warm-up: oneDNN primitive creation
  int iters = 0;
  const auto t0 = Clock::now();
  do {
    enc->encode(x, threads);
    ++iters;
  } while (seconds_since(t0) < budget || iters < 3);
  const double s = seconds_since(t0);
  nlohmann::json out = {
      {"what", "model"},    {"model", model},         {"batch", batch},
      {"threads", threads}, {"fold_batchnorm", fold}, {"channels_last", channels_last},
      {"iters", iters},     {"seconds", s},           {"images_per_s", iters * batch / s}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int bench_e2e(const std::string& model, const std::string& dir, const std::string& out_path,
              int threads, int batch) {
  Registry registry;
  register_builtin_stages(registry);
  const std::string yaml = R"(
pipeline: bench_image_e2e
stages:
  - id: images
    type: source.files
    params: {dir: ")" + dir +
                           R"(", extensions: [.jpg]}
  - id: load
    type: image.load
    input: images
  - id: preprocess
    type: image.preprocess
    input: load
  - id: embed
    type: encode.image
    input: preprocess
    params: {model: ")" + model +
                           R"(", batch_size: )" + std::to_string(batch) + R"(}
  - id: out
    type: write.npy
    input: embed
    params: {path: ")" + out_path +
                           R"("}
)";
  PipelineConfig config = load_pipeline_string(yaml, "bench_image_e2e", registry);
  RunOptions options;
  options.threads = threads;
  const auto t0 = Clock::now();
  const RunResult r = run_pipeline(config, options);
  const double s = seconds_since(t0);
  if (r.status != RunResult::Status::Ok || r.errors) {
    std::fprintf(stderr, "run failed: %s (%llu errors)\n", r.message.c_str(),
                 static_cast<unsigned long long>(r.errors));
    return 1;
  }
  nlohmann::json out = {{"what", "e2e"},
                        {"model", model},
                        {"dir", dir},
                        {"threads", threads},
                        {"items", r.items},
                        {"seconds", s},
                        {"images_per_s", r.items / s},
                        {"stats", r.to_json()}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"embedflow image benchmark (driven by bench/image/run_bench.py)"};
  app.require_subcommand(1);
  std::string model, dir, out_path = "image_bench_e2e.npy";
  int batch = 16, threads = 2;
  double budget = 10;
  bool no_fold = false, no_channels_last = false;
  auto* m = app.add_subcommand("model", "Encoder throughput on a fixed random batch");
  m->add_option("--model", model)->required();
  m->add_option("--batch", batch);
  m->add_option("--threads", threads);
  m->add_option("--seconds", budget, "Measure for at least this long");
  m->add_flag("--no-fold", no_fold);
  m->add_flag("--no-channels-last", no_channels_last);
  auto* e = app.add_subcommand("e2e", "A folder of JPEGs through load + preprocess + encode");
  e->add_option("--model", model)->required();
  e->add_option("--dir", dir)->required();
  e->add_option("--threads", threads);
  e->add_option("--batch", batch);
  e->add_option("--out", out_path, "Where the embeddings go (.npy)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (*m) return bench_model(model, batch, threads, budget, !no_fold, !no_channels_last);
    return bench_e2e(model, dir, out_path, threads, batch);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "image_bench: %s\n", ex.what());
    return 1;
  }
}
