// CLIP throughput of embedflow's towers: images/s (prepared 224x224 tensors; and decoded photos
// through the CLIPImageProcessor path) and captions/s (tokenise + text tower). Prints one JSON
// object; bench/clip/run_bench.py runs it beside the Python reference and prints the ratio.
//
//   clip_bench --model DIR [--threads 2] [--batch 32] [--batches 4] [--precision fp32|int8|bf16]
//              [--save PREFIX]   (PREFIX_image.npy, PREFIX_text.npy: the timed batch's embeddings,
//                                 for comparing precisions)
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embedflow/npy.h"
#include "models/clip.h"
#include "models/torch_runtime.h"
#include "models/transformer/text_model.h"
#include "stages/image/hf_image_processor.h"

using embedflow::DType;
using embedflow::Tensor;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The captions both sides encode (the same list as clip_reference_bench.py).
std::vector<std::string> captions(int n) {
  const std::vector<std::string> base = {
      "A crazy cat smiling.", "A white and brown cat with a yellow bandana.",
      "A man eating in the garden.", "a photo of a dog playing in the snow",
      "two people riding bicycles along a river at sunset, seen from a bridge"};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(base[i % base.size()] + " #" + std::to_string(i));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, precision = "fp32", save;
  int threads = 2, batch = 32, batches = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model")
      model_dir = v;
    else if (a == "--threads")
      threads = std::atoi(v.c_str());
    else if (a == "--batch")
      batch = std::atoi(v.c_str());
    else if (a == "--batches")
      batches = std::atoi(v.c_str());
    else if (a == "--precision")
      precision = v;
    else if (a == "--save")
      save = v;
  }
  if (model_dir.empty()) {
    std::fprintf(stderr,
                 "usage: clip_bench --model DIR [--threads N] [--batch N] [--batches N] "
                 "[--precision fp32|int8|bf16] [--save PREFIX]\n");
    return 2;
  }
  auto model = embedflow::models::ClipModel::load(
      model_dir, embedflow::models::precision_named(precision, "--precision"));
  const int64_t s = model->config().vision.image_size;
  std::mt19937 rng(0);
  std::normal_distribution<float> normal;

  // images/s on prepared tensors
  Tensor pixels(DType::F32, {batch, 3, s, s});
  for (int64_t i = 0; i < pixels.numel(); ++i) pixels.data<float>()[i] = normal(rng);
  const Tensor image_embeddings = model->encode(pixels, threads);  // also the warm-up
  auto t0 = Clock::now();
  for (int b = 0; b < batches; ++b) model->encode(pixels, threads);
  const double image_rate = batch * batches / seconds_since(t0);

  // images/s from decoded 640x480 photos: preprocessing + tower
  std::vector<Tensor> photos;
  for (int i = 0; i < batch; ++i) {
    Tensor img(DType::U8, {480, 640, 3});
    for (int64_t k = 0; k < img.numel(); ++k)
      img.data<uint8_t>()[k] = static_cast<uint8_t>((k * 7 + i * 13) % 251);
    photos.push_back(img);
  }
  t0 = Clock::now();
  for (int b = 0; b < batches; ++b) {
    Tensor prepared(DType::F32, {batch, 3, s, s});
    for (int i = 0; i < batch; ++i) {
      Tensor t = embedflow::image::hf_preprocess(photos[i], model->config().processor);
      std::copy_n(t.data<float>(), t.numel(), prepared.data<float>() + i * t.numel());
    }
    model->encode(prepared, threads);
  }
  const double photo_rate = batch * batches / seconds_since(t0);

  // captions/s: tokenise + text tower
  const auto texts = captions(batch);
  auto encode_texts = [&] {
    std::vector<embedflow::models::TokenIds> ids;
    for (const auto& t : texts) ids.push_back(model->tokenize(t));
    return model->encode(ids, threads);
  };
  const Tensor text_embeddings = encode_texts();  // also the warm-up
  if (!save.empty()) {
    embedflow::write_npy(save + "_image.npy", image_embeddings);
    embedflow::write_npy(save + "_text.npy", text_embeddings);
  }
  t0 = Clock::now();
  for (int b = 0; b < batches * 4; ++b) encode_texts();
  const double caption_rate = batch * batches * 4 / seconds_since(t0);

  // The image tower's GEMM FLOPs per image (q, k, v, output and the two MLP Linears of every
  // layer over 1 + patches tokens, the patch projection) against the GEMM peak now, on this
  // machine, at these threads, for the tower's own shapes: how much room the GEMMs leave.
  const auto& v = model->config().vision;
  const double tokens = std::pow(static_cast<double>(v.image_size / v.patch_size), 2) + 1;
  const double hd = static_cast<double>(v.hidden_size),
               in = static_cast<double>(v.intermediate_size);
  const double image_gflops =
      (2.0 * tokens * static_cast<double>(v.num_layers) * (4 * hd * hd + 2 * hd * in) +
       2.0 * (tokens - 1) * hd * 3 * static_cast<double>(v.patch_size * v.patch_size)) /
      1e9;
  embedflow::models::set_intra_op_threads(threads);
  const int64_t m = static_cast<int64_t>(tokens) * batch, h = v.hidden_size;
  double peak = 0;
  for (auto [mm, nn, kk] : {std::array<int64_t, 3>{m, 3 * h, h},
                            {m, v.intermediate_size, h},
                            {m, h, v.intermediate_size}})
    peak = std::max(peak, embedflow::models::measure_gemm_gflops(mm, nn, kk, 5));

  nlohmann::json out = {
      {"images_per_s", image_rate}, {"image_gflops", image_gflops},
      {"gemm_peak_gflops", peak},   {"image_roofline_fraction", image_rate * image_gflops / peak},
      {"photos_per_s", photo_rate}, {"captions_per_s", caption_rate},
      {"threads", threads},         {"batch", batch},
      {"model", model->describe()}, {"torch", embedflow::models::torch_build_summary()}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
