// The exact openai/clip-vit-base-patch32 shapes, random weights written in the Hugging Face
// layout at test time (CTest fixture clip_b32: gen_clip_fixture.py --out), against the Python
// reference forward: preprocessed tensors, image files, captions.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "models/clip.h"
#include "models/tokenizers/openai_clip_text.h"
#include "stages/image/hf_image_processor.h"
#include "stages/image/load.h"
#include "tests/clip/clip_test_util.h"

using namespace clip_test;
using embedflow::models::ClipModel;
using embedflow::test::binary_path;
using embedflow::test::load_npy;
using embedflow::test::source_path;

namespace {

std::string b32(const std::string& rel) {
  return binary_path("generated/clip-vit-b32/" + rel);
}

// Loaded once for all sections (Catch re-enters the test case for each).
std::shared_ptr<const ClipModel> b32_model() {
  static std::shared_ptr<const ClipModel> model = ClipModel::load(b32("model"));
  return model;
}

}  // namespace

TEST_CASE("clip ViT-B/32 shapes: image and text embeddings match the reference", "[clip][b32]") {
  REQUIRE(std::filesystem::exists(b32("model/model.safetensors")));
  auto model = b32_model();
  const auto& c = model->config();
  CHECK(c.vision.hidden_size == 768);
  CHECK(c.vision.num_layers == 12);
  CHECK(c.vision.patch_size == 32);
  CHECK(c.text.hidden_size == 512);
  CHECK(c.text.vocab_size == 49408);
  CHECK(model->dim() == 512);
  CHECK_THAT(model->describe(), Catch::Contains("151.3M parameters"));

  SECTION("preprocessed tensors") {
    const Tensor got = model->encode(load_npy(b32("expected/pixels.npy")), 2);
    CHECK(max_abs_diff(got, load_npy(b32("expected/image_from_pixels.npy"))) <=
          kEmbeddingTolerance);
  }
  SECTION("image files through CLIPImageProcessor") {
    const auto expected = read_json(b32("expected/expected.json"));
    const auto files = expected["images"].get<std::vector<std::string>>();
    const Tensor want_pixels = load_npy(b32("expected/preprocessed_files.npy"));
    Tensor batch(embedflow::DType::F32, want_pixels.shape());
    for (size_t i = 0; i < files.size(); ++i) {
      INFO(files[i]);
      const std::string bytes = embedflow::test::read_file(source_path(files[i]));
      const Tensor img = embedflow::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                 bytes.size(), files[i], {});
      const Tensor prepared = embedflow::image::hf_preprocess(img, c.processor);
      CHECK(max_abs_diff(prepared, row(want_pixels, static_cast<int64_t>(i))) <= 1e-5f);
      std::copy_n(prepared.data<float>(), prepared.numel(),
                  batch.data<float>() + static_cast<int64_t>(i) * prepared.numel());
    }
    CHECK(max_abs_diff(model->encode(batch, 2), load_npy(b32("expected/image_from_files.npy"))) <=
          kEmbeddingTolerance);
  }
  SECTION("captions") {
    const auto expected = read_json(b32("expected/expected.json"));
    std::vector<embedflow::models::TokenIds> ids;
    // The reference ids are clip.tokenize's, which cleans the text first (text_cleaning: openai).
    for (const auto& caption : expected["captions"])
      ids.push_back(
          model->tokenize(embedflow::tokenizers::clip_clean_text(caption.get<std::string>())));
    CHECK(ids == expected["ids"].get<std::vector<embedflow::models::TokenIds>>());
    CHECK(max_abs_diff(model->encode(ids, 2), load_npy(b32("expected/text.npy"))) <=
          kEmbeddingTolerance);
  }
}

TEST_CASE("clip ViT-B/32 shapes: precision int8 stays close to the reference", "[clip][b32]") {
  using embedflow::models::Precision;
  auto model = ClipModel::load(b32("model"), Precision::Int8);
  CHECK(model != b32_model());  // fp32 and int8 are separate instances of one folder
  CHECK(model == ClipModel::load(b32("model"), Precision::Int8));
  CHECK_THAT(model->describe(), Catch::Contains(", int8 ("));
  const auto expected = read_json(b32("expected/expected.json"));
  std::vector<embedflow::models::TokenIds> ids;
  for (const auto& caption : expected["captions"])
    ids.push_back(
        model->tokenize(embedflow::tokenizers::clip_clean_text(caption.get<std::string>())));
  const std::pair<Tensor, Tensor> towers[] = {
      {model->encode(load_npy(b32("expected/pixels.npy")), 2),
       load_npy(b32("expected/image_from_pixels.npy"))},
      {model->encode(ids, 2), load_npy(b32("expected/text.npy"))}};
  for (const auto& [got, want] : towers) {
    REQUIRE(got.shape() == want.shape());
    const int64_t n = want.dim(0), d = want.dim(1);
    double sum = 0, worst = 1;
    for (int64_t r = 0; r < n; ++r) {
      const double c =
          embedflow::test::cosine(got.data<float>() + r * d, want.data<float>() + r * d, d);
      sum += c;
      worst = std::min(worst, c);
    }
    INFO("int8 against the reference, " << n << " embeddings: mean cosine " << sum / double(n)
                                        << ", min " << worst);
    CHECK(sum / double(n) >= 0.999);
    CHECK(worst >= 0.99);
    CHECK(max_abs_diff(got, want) > 1e-5f);  // it really ran quantised
  }
}

TEST_CASE("clip ViT-B/32 shapes: configs/clip_image_text.yaml scores match the reference",
          "[clip][b32]") {
  embedflow::test::TempDir out("clip_b32_pipeline");
  const auto r = embedflow::test::run_command("OUT=" + out.path() + " CLIP_MODEL=" + b32("model") +
                                              " " + EMBEDFLOW_CLI + " run " +
                                              source_path("configs/clip_image_text.yaml"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto expected = read_json(b32("expected/expected.json"));
  REQUIRE(expected["images"][3] == "examples/media/images/chelsea.jpg");
  const Tensor image = load_npy(b32("expected/image_from_files.npy"));
  const Tensor text = load_npy(b32("expected/text.npy"));
  const int64_t d = image.dim(1);
  // ranking.csv: rank,corpus_id,score,query_id
  std::istringstream csv(embedflow::test::read_file(out.file("ranking.csv")));
  std::string line;
  std::getline(csv, line);
  int rows = 0;
  while (std::getline(csv, line)) {
    std::istringstream row_in(line);
    std::string rank, corpus, score;
    std::getline(row_in, rank, ',');
    std::getline(row_in, corpus, ',');
    std::getline(row_in, score, ',');
    const int c = std::stoi(corpus);
    const float* a = image.data<float>() + 3 * d;
    const float* b = text.data<float>() + c * d;
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < d; ++i) {
      ab += double(a[i]) * b[i];
      aa += double(a[i]) * a[i];
      bb += double(b[i]) * b[i];
    }
    CHECK(std::stod(score) == Approx(ab / std::sqrt(aa * bb)).margin(1e-5));
    ++rows;
  }
  CHECK(rows == 3);
}
