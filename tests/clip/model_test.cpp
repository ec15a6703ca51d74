// CLIP towers against the independent Python reference forward (clip_reference.py) on the
// committed tiny random model: preprocessed tensors, real image files, captions; and loading
// errors users can act on.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include "embedflow/cpu.h"
#include "models/clip.h"
#include "models/safetensors.h"
#include "models/tokenizers/openai_clip_text.h"
#include "stages/image/hf_image_processor.h"
#include "stages/image/load.h"
#include "tests/clip/clip_test_util.h"

using namespace clip_test;
using embedflow::models::ClipModel;
using embedflow::test::load_npy;
using embedflow::test::source_path;
namespace fs = std::filesystem;

namespace {

Tensor decode_file(const std::string& path) {
  const std::string bytes = embedflow::test::read_file(path);
  return embedflow::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path,
                                 embedflow::ImageDecodeOptions{});
}

// A copy of the tiny model folder whose config.json is changed by `edit`.
void copy_tiny(const std::string& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(tiny_model()))
    fs::copy_file(e.path(), fs::path(to) / e.path().filename());
}
void edit_config(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json c = read_json(dir + "/config.json");
  edit(c);
  embedflow::test::write_file(dir + "/config.json", c.dump(2));
}

}  // namespace

TEST_CASE("clip tiny: image embeddings of preprocessed tensors match the reference",
          "[clip][model]") {
  auto model = ClipModel::load(tiny_model());
  const Tensor pixels = load_npy(tiny_expected("pixels.npy"));
  const Tensor want = load_npy(tiny_expected("image_from_pixels.npy"));
  const Tensor got = model->encode(pixels, 2);
  REQUIRE(got.shape() == want.shape());
  CHECK(got.dim(1) == 24);
  CHECK(max_abs_diff(got, want) <= kEmbeddingTolerance);
  // One at a time gives the same vectors as the batch.
  for (int64_t i = 0; i < pixels.dim(0); ++i) {
    Tensor one = row(pixels, i).reshape({1, 3, 32, 32});
    CHECK(max_abs_diff(row(model->encode(one, 1), 0), row(want, i)) <= kEmbeddingTolerance);
  }
}

TEST_CASE("clip tiny: image files preprocess like CLIPImageProcessor and embed like the reference",
          "[clip][model]") {
  auto model = ClipModel::load(tiny_model());
  const auto expected = read_json(tiny_expected("expected.json"));
  const Tensor want_pixels = load_npy(tiny_expected("preprocessed_files.npy"));
  const Tensor want = load_npy(tiny_expected("image_from_files.npy"));
  const auto files = expected["images"].get<std::vector<std::string>>();
  REQUIRE(files.size() == static_cast<size_t>(want.dim(0)));
  Tensor batch(DType::F32, want_pixels.shape());
  for (size_t i = 0; i < files.size(); ++i) {
    INFO(files[i]);
    const Tensor img = decode_file(source_path(files[i]));
    const Tensor prepared = embedflow::image::hf_preprocess(img, model->config().processor);
    // PIL-exact resampling: equal pixels, so only float rounding of the normalisation is left.
    CHECK(max_abs_diff(prepared, row(want_pixels, static_cast<int64_t>(i))) <= 1e-5f);
    std::copy_n(prepared.data<float>(), prepared.numel(),
                batch.data<float>() + static_cast<int64_t>(i) * prepared.numel());
  }
  CHECK(max_abs_diff(model->encode(batch, 2), want) <= kEmbeddingTolerance);
}

TEST_CASE("clip tiny: caption ids and text embeddings match the reference", "[clip][model]") {
  auto model = ClipModel::load(tiny_model());
  const auto expected = read_json(tiny_expected("expected.json"));
  const auto captions = expected["captions"].get<std::vector<std::string>>();
  const auto want_ids = expected["ids"].get<std::vector<embedflow::models::TokenIds>>();
  std::vector<embedflow::models::TokenIds> ids;
  // The reference ids are clip.tokenize's, which cleans the text first (text_cleaning: openai).
  for (size_t i = 0; i < captions.size(); ++i) {
    ids.push_back(model->tokenize(embedflow::tokenizers::clip_clean_text(captions[i])));
    CHECK(ids.back() == want_ids[i]);
  }
  CHECK(ids[3].size() == 2);   // the empty caption: BOS EOS
  CHECK(ids[5].size() == 77);  // the overlong one, truncated
  const Tensor want = load_npy(tiny_expected("text.npy"));
  // Batched (padded to the longest) and one by one.
  CHECK(max_abs_diff(model->encode(ids, 2), want) <= kEmbeddingTolerance);
  for (size_t i = 0; i < ids.size(); ++i)
    CHECK(max_abs_diff(row(model->encode({ids[i]}, 1), 0), row(want, static_cast<int64_t>(i))) <=
          kEmbeddingTolerance);
}

TEST_CASE("clip: one loaded instance per model folder", "[clip][model]") {
  auto a = ClipModel::load(tiny_model());
  auto b = ClipModel::load(tiny_model() + "/");
  CHECK(a.get() == b.get());
  std::weak_ptr<const ClipModel> weak = a;
  a.reset();
  b.reset();
  CHECK(weak.expired());  // the cache does not keep models alive
}

TEST_CASE("clip: sentence-transformers folder (0_CLIPModel) loads the same model",
          "[clip][model]") {
  embedflow::test::TempDir dir("clip_st");
  copy_tiny(dir.file("0_CLIPModel"));
  embedflow::test::write_file(
      dir.file("modules.json"),
      R"([{"idx": 0, "name": "0", "path": "0_CLIPModel", "type": "sentence_transformers.models.CLIPModel"}])");
  auto model = ClipModel::load(dir.path());
  const Tensor got = model->encode(load_npy(tiny_expected("pixels.npy")), 1);
  CHECK(max_abs_diff(got, load_npy(tiny_expected("image_from_pixels.npy"))) <= kEmbeddingTolerance);
}

TEST_CASE("clip: configs and checkpoints that cannot run are rejected with the reason",
          "[clip][model]") {
  using embedflow::models::ModelError;
  embedflow::test::TempDir dir("clip_bad");

  SECTION("unsupported hidden_act") {
    copy_tiny(dir.file("m"));
    edit_config(dir.file("m"), [](nlohmann::json& c) { c["text_config"]["hidden_act"] = "swish"; });
    CHECK_THROWS_AS(ClipModel::load(dir.file("m")), ModelError);
    CHECK_THROWS_WITH(
        ClipModel::load(dir.file("m")),
        Catch::Contains("hidden_act 'swish' is not supported") && Catch::Contains("text_config"));
  }
  SECTION("shapes that do not match the config") {
    copy_tiny(dir.file("m"));
    edit_config(dir.file("m"), [](nlohmann::json& c) { c["projection_dim"] = 16; });
    CHECK_THROWS_AS(ClipModel::load(dir.file("m")), ModelError);
    CHECK_THROWS_WITH(ClipModel::load(dir.file("m")),
                      Catch::Contains("visual_projection.weight") && Catch::Contains("[16, 32]"));
  }
  SECTION("heads that do not divide the width") {
    copy_tiny(dir.file("m"));
    edit_config(dir.file("m"),
                [](nlohmann::json& c) { c["vision_config"]["num_attention_heads"] = 3; });
    CHECK_THROWS_WITH(ClipModel::load(dir.file("m")), Catch::Contains("not divisible"));
  }
  SECTION("missing tokenizer files") {
    copy_tiny(dir.file("m"));
    fs::remove(dir.file("m/merges.txt"));
    CHECK_THROWS_WITH(ClipModel::load(dir.file("m")), Catch::Contains("merges.txt"));
  }
  SECTION("wrongly shaped pixel batch") {
    auto model = ClipModel::load(tiny_model());
    Tensor bad(DType::F32, {1, 3, 30, 30});
    CHECK_THROWS_WITH(model->encode(bad, 1), Catch::Contains("[B, 3, 32, 32]"));
  }
}

TEST_CASE("clip preprocess: gray and RGBA images become RGB as PIL's convert does",
          "[clip][model]") {
  embedflow::models::ClipImageProcessorConfig cfg;
  cfg.shortest_edge = cfg.crop_height = cfg.crop_width = 4;
  Tensor gray(DType::U8, {4, 4, 1});
  Tensor rgba(DType::U8, {4, 4, 4});
  Tensor rgb(DType::U8, {4, 4, 3});
  for (int i = 0; i < 16; ++i) {
    gray.data<uint8_t>()[i] = static_cast<uint8_t>(i * 10);
    for (int c = 0; c < 3; ++c) rgb.data<uint8_t>()[i * 3 + c] = static_cast<uint8_t>(i * 10);
    for (int c = 0; c < 3; ++c) rgba.data<uint8_t>()[i * 4 + c] = static_cast<uint8_t>(i * 10);
    rgba.data<uint8_t>()[i * 4 + 3] = static_cast<uint8_t>(255 - i);
  }
  using embedflow::image::hf_preprocess;
  const Tensor want = hf_preprocess(rgb, cfg);
  CHECK(max_abs_diff(hf_preprocess(gray, cfg), want) == 0.f);
  CHECK(max_abs_diff(hf_preprocess(rgba, cfg), want) == 0.f);
  // (0 - mean) / std for the first pixel's red channel.
  CHECK(want.data<float>()[0] == Approx(-0.48145466f / 0.26862954f).epsilon(1e-6));
  CHECK_THROWS_WITH(hf_preprocess(Tensor(DType::U8, {4, 4, 2}), cfg), Catch::Contains("channels"));
}

TEST_CASE("clip: concurrent forwards on one shared model give the reference results",
          "[clip][model]") {
  auto model = ClipModel::load(tiny_model());
  const Tensor pixels = load_npy(tiny_expected("pixels.npy"));
  const Tensor want_images = load_npy(tiny_expected("image_from_pixels.npy"));
  const Tensor want_text = load_npy(tiny_expected("text.npy"));
  const auto expected = read_json(tiny_expected("expected.json"));
  const auto ids = expected["ids"].get<std::vector<embedflow::models::TokenIds>>();
  // No Catch assertions inside the threads (they are not thread-safe): collect, check after.
  float image_diff = 0, text_diff = 0;
  std::thread images([&] {
    for (int i = 0; i < 5; ++i) {
      const Tensor got = model->encode(pixels, 1);
      image_diff = std::max(
          image_diff, got.numel() == want_images.numel()
                          ? max_abs_diff(got.data<float>(), want_images.data<float>(), got.numel())
                          : 1e9f);
    }
  });
  std::thread texts([&] {
    for (int i = 0; i < 5; ++i) {
      const Tensor got = model->encode(ids, 1);
      text_diff = std::max(
          text_diff, got.numel() == want_text.numel()
                         ? max_abs_diff(got.data<float>(), want_text.data<float>(), got.numel())
                         : 1e9f);
    }
  });
  images.join();
  texts.join();
  CHECK(image_diff <= kEmbeddingTolerance);
  CHECK(text_diff <= kEmbeddingTolerance);
}

// #16: an image's or a caption's embedding is the same bytes whatever its batch, its place in
// it and the thread count, where the encoder says so (describe); int8 everywhere, fp32 and bf16
// from avx512 up.
TEST_CASE("clip tiny: embeddings are the same bytes in any batch and at any thread count",
          "[clip][model]") {
  using embedflow::models::Precision;
  namespace cpu = embedflow::cpu;
  constexpr int64_t kImages = 12;
  const int64_t s = ClipModel::load(tiny_model())->config().vision.image_size;
  Tensor pixels(DType::F32, {kImages, 3, s, s});
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < pixels.numel(); ++i) pixels.data<float>()[i] = normal(rng);
  const std::vector<std::string> captions{"a photo of a cat",
                                          "a dog",
                                          "",
                                          "two birds on a wire at dusk, seen from below",
                                          "an astronaut",
                                          "coffee",
                                          "the moon over the sea and a small boat with a red sail",
                                          "a diagram of a cpu",
                                          "x",
                                          "rain"};
  std::vector<cpu::Level> levels{cpu::active_level()};
  if (levels[0] > cpu::Level::Avx2) levels.push_back(cpu::Level::Avx2);
  for (const auto level : levels)
    for (const auto precision : {Precision::F32, Precision::Int8, Precision::Bf16}) {
      const cpu::ScopedLevelForTesting at(level);
      const auto model = ClipModel::load(tiny_model(), precision);
      const std::string described = model->describe();
      INFO("level " << cpu::level_name(level) << ": " << described);
      const bool claims = described.find("; batch-invariant") != std::string::npos;
      // fp32 and bf16 on oneDNN's packed matmul (AVX-512) or the fixed-order GEMM (below).
      CHECK(claims);
      if (!claims) continue;
      CHECK(embedflow::test::batch_variance(
                kImages, [&](const std::vector<int64_t>& items, int threads) {
                  return model->encode(embedflow::test::gather_rows(pixels, items), threads);
                }) == "");
      CHECK(embedflow::test::batch_variance(
                static_cast<int64_t>(captions.size()),
                [&](const std::vector<int64_t>& items, int threads) {
                  std::vector<embedflow::models::TokenIds> ids;
                  for (const int64_t i : items)
                    ids.push_back(model->tokenize(captions[static_cast<size_t>(i)]));
                  return model->encode(ids, threads);
                }) == "");
    }
}
