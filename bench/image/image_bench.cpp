// embedflow's side of bench/image/run_bench.py. Prints one JSON line per measurement.
//
//   image_bench model --model resnet50.safetensors --batch 16 --threads 2 --seconds 10
//   image_bench model --model vit-b16/ --size 224     (a ViT or DINOv2 folder: config.json says)
//                     [--precision int8|bf16] [--save out.npy]   (the timed batch's embeddings)
//   image_bench prep --dir jpegs/
//
// The pipeline side (the same JPEGs through `embedflow run configs/image_embeddings.yaml`) is
// the CLI itself, run by run_bench.py.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "embedflow/config.h"
#include "embedflow/npy.h"
#include "models/resnet.h"
#include "models/torch_runtime.h"
#include "models/transformer/vision_model.h"
#include "stages/image/load.h"
#include "stages/image/preprocess.h"

using namespace embedflow;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// CPU seconds of the whole process (all threads): on a shared machine images per CPU-second
// moves far less with other people's load than images per wall-second.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// The encoder encode.image would run for `model`: a vision transformer when its config.json names
// one, otherwise a ResNet.
std::shared_ptr<const models::ImageEncoder> load_encoder(const std::string& model,
                                                         const models::ResNetOptions& opt,
                                                         models::Precision precision) {
  if (models::VisionTransformer::handles(model)) {
    models::VisionTransformerOptions vit;
    vit.precision = precision;
    return models::VisionTransformer::load(model, vit);
  }
  if (precision != models::Precision::F32)
    throw std::invalid_argument("--precision int8 and bf16 are for vision transformers");
  return models::ResNetEncoder::load(model, opt);
}

int bench_model(const std::string& model, int batch, int threads, double budget, int size,
                const models::ResNetOptions& opt, models::Precision precision,
                const std::string& save) {
  const auto l0 = Clock::now();
  auto enc = load_encoder(model, opt, precision);
  const double load_s = seconds_since(l0);
  Tensor x(DType::F32, {batch, 3, size, size});
  std::mt19937 rng(0);
  std::normal_distribution<float> n01;
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = n01(rng);
  for (int i = 0; i < 2; ++i) {  // warm-up: oneDNN primitive creation
    const Tensor y = enc->encode(x, threads);
    if (i == 0 && !save.empty()) write_npy(save, y);
  }
  int iters = 0;
  const double cpu0 = process_cpu_seconds();
  const auto t0 = Clock::now();
  double best = 1e30, best_cpu = 1e30;  // the least disturbed batch, wall and CPU
  do {
    const double c0 = process_cpu_seconds();
    const auto i0 = Clock::now();
    enc->encode(x, threads);
    best = std::min(best, seconds_since(i0));
    best_cpu = std::min(best_cpu, process_cpu_seconds() - c0);
    ++iters;
  } while (seconds_since(t0) < budget || iters < 3);
  const double s = seconds_since(t0);
  const double cpu = process_cpu_seconds() - cpu0;
  nlohmann::json out = {{"what", "model"},
                        {"model", model},
                        {"describe", enc->describe()},
                        {"load_seconds", load_s},
                        {"batch", batch},
                        {"size", size},
                        {"precision", models::precision_name(precision)},
                        {"threads", threads},
                        {"iters", iters},
                        {"seconds", s},
                        {"cpu_seconds", cpu},
                        {"images_per_s", iters * batch / s},
                        {"images_per_cpu_s", iters * batch / cpu},
                        {"best_batch_images_per_s", batch / best},
                        {"best_batch_images_per_cpu_s", batch / best_cpu}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// Decode and preprocess every file of `dir` on one thread: their CPU cost per image, which with
// the model's gives the end-to-end bound on a given number of cores.
int bench_prep(const std::string& dir) {
  ImageLoadStage load(resolve_params(image_load_schema(), "load", Json::object()));
  ImagePreprocessStage pre(resolve_params(image_preprocess_schema(), "preprocess", Json::object()));
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".jpg") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  double best_load = 1e30, best_pre = 1e30;
  for (int round = 0; round < 3; ++round) {  // the least disturbed of 3 passes
    double t_load = 0, t_pre = 0;
    for (const auto& f : files) {
      Item in;
      in.id = in.source = f;
      in.kind = Kind::File;
      Item img = in.derive();
      double c0 = thread_cpu_seconds();
      load.process(in, img);
      double c1 = thread_cpu_seconds();
      Item x = img.derive();
      pre.process(img, x);
      t_load += c1 - c0;
      t_pre += thread_cpu_seconds() - c1;
    }
    best_load = std::min(best_load, t_load);
    best_pre = std::min(best_pre, t_pre);
  }
  const double n = static_cast<double>(files.size());
  nlohmann::json out = {{"what", "prep"},
                        {"dir", dir},
                        {"images", files.size()},
                        {"load_ms_per_image", 1e3 * best_load / n},
                        {"preprocess_ms_per_image", 1e3 * best_pre / n}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"embedflow image benchmark (driven by bench/image/run_bench.py)"};
  app.require_subcommand(1);
  std::string model, dir, precision = "fp32", save;
  int batch = 16, threads = 2, size = 224;
  double budget = 10;
  bool no_fold = false, no_channels_last = false;
  std::string engine = "auto";
  int64_t per_call = 0;
  auto* m = app.add_subcommand("model", "Encoder throughput on a fixed random batch");
  m->add_option("--model", model)->required();
  m->add_option("--batch", batch);
  m->add_option("--threads", threads);
  m->add_option("--size", size, "Image height and width (pixels)");
  m->add_option("--precision", precision, "Vision transformers: fp32, int8 or bf16");
  m->add_option("--save", save, "Write the batch's embeddings to this .npy");
  m->add_option("--seconds", budget, "Measure for at least this long");
  m->add_flag("--no-fold", no_fold);
  m->add_flag("--no-channels-last", no_channels_last);
  m->add_option("--engine", engine, "auto, winograd, onednn, aten (models/resnet.h)");
  m->add_option("--images-per-call", per_call, "Forward-pass size inside encode (0: auto)");
  auto* pr = app.add_subcommand("prep", "CPU cost of image.load + image.preprocess per file");
  pr->add_option("--dir", dir)->required();
  CLI11_PARSE(app, argc, argv);
  try {
    if (*m) {
      models::ResNetOptions opt;
      opt.fold_batchnorm = !no_fold;
      opt.channels_last = !no_channels_last;
      opt.engine = engine;
      opt.max_images_per_call = per_call;
      return bench_model(model, batch, threads, budget, size, opt,
                         models::precision_named(precision, "--precision"), save);
    }
    return bench_prep(dir);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "image_bench: %s\n", ex.what());
    return 1;
  }
}
