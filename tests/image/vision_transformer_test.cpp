// Vision transformers on the transformer core (ViT, DINOv2) against the independent float64
// reference written from transformers' modeling code (tests/fixtures/vision/vision_reference.py):
// random weights of the published shapes (ViT-B/16, DINOv2-small, two layers of DINOv2-giant with
// its SwiGLU feed-forward) under the published key names, generated at test time by
// make_vision.py; int8 against the same reference; and encode.image choosing them from
// config.json.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>

#include "embedflow/config.h"
#include "embedflow/cpu.h"
#include "embedflow/npy.h"
#include "models/safetensors.h"
#include "models/transformer/vision_model.h"
#include "stages/image/encode.h"
#include "stages/image/load.h"
#include "stages/image/preprocess.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using embedflow::Tensor;
using embedflow::models::VisionTransformer;
using embedflow::models::VisionTransformerOptions;

namespace {

std::string vision_case(const std::string& name, const std::string& file = "") {
  return embedflow::test::binary_path("generated/vision/" + name +
                                      (file.empty() ? "" : "/" + file));
}

// max |got − want| over max |want|: the figure the issue bounds (≤ 1e-4 for images).
double relative_diff(const Tensor& got, const Tensor& want) {
  REQUIRE(got.shape() == want.shape());
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    worst = std::max(worst, std::abs(double(got.data<float>()[i]) - want.data<float>()[i]));
    scale = std::max(scale, std::abs(double(want.data<float>()[i])));
  }
  return worst / scale;
}

void check_hidden(const VisionTransformer& model, const std::string& name,
                  const std::string& pixels, const std::string& expected, int threads) {
  const Tensor x = embedflow::read_npy(vision_case(name, pixels));
  const double d = relative_diff(model.hidden_states(x, threads),
                                 embedflow::read_npy(vision_case(name, expected)));
  INFO(name << " " << pixels << " " << x.shape_str() << ", threads " << threads
            << ": max |diff| / max |ref| = " << d);
  CHECK(d <= 1e-4);
}

}  // namespace

TEST_CASE("vision transformers: ViT-B/16 (ViTModel keys) equals the reference") {
  auto model = VisionTransformer::load(vision_case("vit-b16"), {});
  CHECK_THAT(model->describe(), Catch::Contains("ViT 12x768") && Catch::Contains("patch 16"));
  check_hidden(*model, "vit-b16", "pixels.npy", "expected_hidden.npy", 2);
  check_hidden(*model, "vit-b16", "pixels.npy", "expected_hidden.npy", 1);

  VisionTransformerOptions pooler;
  pooler.pooling = "pooler";
  auto with_pooler = VisionTransformer::load(vision_case("vit-b16"), pooler);
  const Tensor x = embedflow::read_npy(vision_case("vit-b16", "pixels.npy"));
  CHECK(relative_diff(with_pooler->encode(x, 2),
                      embedflow::read_npy(vision_case("vit-b16", "expected_pooler.npy"))) <= 1e-4);
  // ViT has no position interpolation: another size is refused, with what to do.
  Tensor small(embedflow::DType::F32, {1, 3, 160, 160});
  CHECK_THROWS_WITH(model->encode(small, 1),
                    Catch::Contains("224x224") && Catch::Contains("image.preprocess"));
}

TEST_CASE("vision transformers: ViT classifier checkpoint (vit. keys and a head) loads") {
  auto model = VisionTransformer::load(vision_case("vit-b16-classifier"), {});
  check_hidden(*model, "vit-b16-classifier", "pixels.npy", "expected_hidden.npy", 2);
  VisionTransformerOptions pooler;
  pooler.pooling = "pooler";
  CHECK_THROWS_WITH(VisionTransformer::load(vision_case("vit-b16-classifier"), pooler),
                    Catch::Contains("pooler.dense") && Catch::Contains("use cls"));
}

TEST_CASE("vision transformers: DINOv2-small with interpolated positions equals the reference") {
  auto model = VisionTransformer::load(vision_case("dinov2-small"), {});
  CHECK_THAT(model->describe(), Catch::Contains("DINOv2 12x384") && Catch::Contains("518px"));
  // 224x224: the 37x37 trained grid resized to 16x16; 518x518: the table as trained;
  // 224x280: not square, resized to 16x20.
  check_hidden(*model, "dinov2-small", "pixels.npy", "expected_hidden.npy", 2);
  check_hidden(*model, "dinov2-small", "pixels_518.npy", "expected_hidden_518.npy", 2);
  check_hidden(*model, "dinov2-small", "pixels_rect.npy", "expected_hidden_rect.npy", 1);

  VisionTransformerOptions cls_mean;
  cls_mean.pooling = "cls_mean";
  auto pooled = VisionTransformer::load(vision_case("dinov2-small"), cls_mean);
  CHECK(pooled->dim() == 768);
  const Tensor x = embedflow::read_npy(vision_case("dinov2-small", "pixels.npy"));
  CHECK(relative_diff(pooled->encode(x, 2), embedflow::read_npy(vision_case(
                                                "dinov2-small", "expected_cls_mean.npy"))) <= 1e-4);
}

TEST_CASE("vision transformers: DINOv2-giant's SwiGLU feed-forward equals the reference") {
  auto model = VisionTransformer::load(vision_case("dinov2-giant-2-layers"), {});
  CHECK_THAT(model->describe(),
             Catch::Contains("DINOv2 2x1536 (24 heads)") && Catch::Contains("SwiGLU"));
  check_hidden(*model, "dinov2-giant-2-layers", "pixels.npy", "expected_hidden.npy", 2);
  check_hidden(*model, "dinov2-giant-2-layers", "pixels.npy", "expected_hidden.npy", 1);
}

TEST_CASE("vision transformers: precisions int8 and bf16 stay close to the reference") {
  // Every token's last hidden state (after the final LayerNorm) against the float64 reference:
  // the pre-LN int8 and bf16 forwards on each family, SwiGLU included.
  using embedflow::models::Precision;
  for (const Precision precision : {Precision::Int8, Precision::Bf16})
    for (const std::string name : {"vit-b16", "dinov2-small", "dinov2-giant-2-layers"}) {
      VisionTransformerOptions options;
      options.precision = precision;
      auto model = VisionTransformer::load(vision_case(name), options);
      const std::string precision_name = embedflow::models::precision_name(precision);
      CHECK_THAT(model->describe(), Catch::Contains(", " + precision_name + " ("));
      const Tensor x = embedflow::read_npy(vision_case(name, "pixels.npy"));
      const Tensor want = embedflow::read_npy(vision_case(name, "expected_hidden.npy"));
      const Tensor got = model->hidden_states(x, 2);
      REQUIRE(got.shape() == want.shape());
      const auto [mean, worst] = embedflow::test::row_cosines(got, want);
      INFO(model->describe() << " against the reference over " << want.dim(0) * want.dim(1)
                             << " tokens: mean cosine " << mean << ", min " << worst
                             << ", max |diff| / max |ref| " << relative_diff(got, want));
      CHECK(mean >= 0.999);
      CHECK(worst >= 0.99);
      CHECK(relative_diff(got, want) > 1e-5);  // it really ran in that precision
      if (precision != Precision::Int8) continue;

      // One image per call takes attention's per-(sequence, head) path, a batch on one thread
      // the per-sequence one: integer GEMMs and row-wise float passes make them agree to the
      // bit.
      const int64_t per_image = x.numel() / x.dim(0);
      Tensor first(embedflow::DType::F32, {1, 3, x.dim(2), x.dim(3)});
      std::copy_n(x.data<float>(), per_image, first.data<float>());
      const Tensor alone = model->hidden_states(first, 1);
      const Tensor batched = model->hidden_states(x, 1);
      double worst_bits = 0;
      for (int64_t i = 0; i < alone.numel(); ++i)
        worst_bits = std::max(worst_bits, std::abs(double(alone.data<float>()[i]) -
                                                   double(batched.data<float>()[i])));
      CHECK(worst_bits == 0.0);
    }
}

TEST_CASE("vision transformers: encode.image picks them from config.json") {
  using namespace embedflow;
  EncodeImageStage stage(resolve_params(
      encode_image_schema(), "enc",
      {{"model", vision_case("dinov2-small")}, {"pooling", "cls"}, {"normalize", true}}));
  StageContext ctx;
  ctx.stage_id = "enc";
  ctx.threads = 2;
  stage.open(ctx);
  const Tensor x = read_npy(vision_case("dinov2-small", "pixels.npy"));
  std::vector<Item> items(2);
  std::vector<const Item*> in;
  std::vector<Item> out;
  for (int i = 0; i < 2; ++i) {
    items[i].id = "img" + std::to_string(i);
    items[i].kind = Kind::ImageTensor;
    items[i].tensor = Tensor(DType::F32, {3, 224, 224});
    std::copy_n(x.data<float>() + i * 3 * 224 * 224, 3 * 224 * 224, items[i].tensor.data<float>());
    in.push_back(&items[i]);
    out.push_back(items[i].derive());
  }
  stage.process_batch(in, out);
  // The class token after the final LayerNorm, L2-normalised.
  const Tensor hidden = read_npy(vision_case("dinov2-small", "expected_hidden.npy"));
  const int64_t len = hidden.dim(1), d = hidden.dim(2);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(out[i].tensor.numel() == d);
    double norm = 0;
    for (int64_t c = 0; c < d; ++c)
      norm += std::pow(double(hidden.data<float>()[i * len * d + c]), 2);
    double worst = 0;
    for (int64_t c = 0; c < d; ++c)
      worst = std::max(worst, std::abs(out[i].tensor.data<float>()[c] -
                                       hidden.data<float>()[i * len * d + c] / std::sqrt(norm)));
    CHECK(worst <= 1e-5);
  }

  EncodeImageStage resnet_pooling(resolve_params(
      encode_image_schema(), "enc", {{"model", vision_case("vit-b16")}, {"layer", "layer2"}}));
  CHECK_THROWS_WITH(resnet_pooling.open(ctx),
                    Catch::Contains("layer 'layer2'") && Catch::Contains("vision transformer"));
  EncodeImageStage resnet_int8(resolve_params(
      encode_image_schema(), "enc",
      {{"model", embedflow::test::binary_path("generated/image/resnet18.safetensors")},
       {"precision", "int8"}}));
  CHECK_THROWS_WITH(resnet_int8.open(ctx),
                    Catch::Contains("precision int8") && Catch::Contains("ResNet"));
}

TEST_CASE("vision transformers: image.preprocess runs the folder's image processor like PIL") {
  // tests/fixtures/vision/processor_reference.py's files, in its order.
  const std::vector<std::string> files = {
      "tests/fixtures/clip/images/photo.png", "tests/fixtures/clip/images/gray.png",
      "tests/fixtures/clip/images/rgba.png",  "examples/media/images/chelsea.jpg",
      "examples/media/images/astronaut.jpg",  "examples/media/images/coffee.jpg"};
  using namespace embedflow;
  ImageLoadStage load(resolve_params(image_load_schema(), "load", Json::object()));
  for (const std::string name : {"vit-b16", "dinov2-small"}) {
    ImagePreprocessStage pre(
        resolve_params(image_preprocess_schema(), "pre", {{"model", vision_case(name)}}));
    const Tensor want = read_npy(vision_case("processed", name + ".npy"));
    REQUIRE(want.dim(0) == static_cast<int64_t>(files.size()));
    const int64_t per_image = want.numel() / want.dim(0);
    for (size_t i = 0; i < files.size(); ++i) {
      Item file;
      file.id = file.source = embedflow::test::source_path(files[i]);
      file.kind = Kind::File;
      Item img = file.derive();
      load.process(file, img);
      Item x = img.derive();
      pre.process(img, x);
      REQUIRE(x.tensor.shape() ==
              std::vector<int64_t>(want.shape().begin() + 1, want.shape().end()));
      double worst = 0;
      for (int64_t k = 0; k < per_image; ++k)
        worst = std::max(worst, std::abs(double(x.tensor.data<float>()[k]) -
                                         want.data<float>()[int64_t(i) * per_image + k]));
      INFO(name << " " << files[i] << ": max |diff| " << worst);
      // PIL's fixed-point resampling reproduced: the same u8 pixels, then float rounding.
      CHECK(worst <= 1e-6);
    }
  }
  CHECK_THROWS_WITH(
      ImagePreprocessStage(resolve_params(
          image_preprocess_schema(), "pre",
          {{"model", embedflow::test::source_path("tests/fixtures/text/tiny-bert")}})),
      Catch::Contains("preprocessor_config.json") && Catch::Contains("resize"));
}

// #16: an image's embedding is the same bytes whatever its batch, its place in it and the
// thread count, where the encoder says so (describe): int8 everywhere, fp32 and bf16 from avx512
// up. DINOv2-small at every precision (cls + mean pooling, the patch embedding's convolution
// included); ViT-B/16's tanh pooler at fp32.
TEST_CASE("vision transformers: an embedding is the same bytes in any batch and thread count") {
  namespace cpu = embedflow::cpu;
  using embedflow::models::Precision;
  constexpr int64_t kImages = 6, kSide = 224;
  Tensor pixels(embedflow::DType::F32, {kImages, 3, kSide, kSide});
  std::mt19937 rng(16);
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < pixels.numel(); ++i) pixels.data<float>()[i] = normal(rng);
  auto variance = [&](const VisionTransformer& model) {
    return embedflow::test::batch_variance(
        kImages, [&](const std::vector<int64_t>& items, int threads) {
          return model.encode(embedflow::test::gather_rows(pixels, items), threads);
        });
  };
  std::vector<cpu::Level> levels{cpu::active_level()};
  if (levels[0] > cpu::Level::Avx2) levels.push_back(cpu::Level::Avx2);
  for (const auto level : levels)
    for (const auto precision : {Precision::F32, Precision::Int8, Precision::Bf16}) {
      const cpu::ScopedLevelForTesting at(level);
      VisionTransformerOptions o;
      o.pooling = "cls_mean";
      o.precision = precision;
      const auto model = VisionTransformer::load(vision_case("dinov2-small"), o);
      const std::string described = model->describe();
      INFO("level " << cpu::level_name(level) << ": " << described);
      const bool claims = described.find("; batch-invariant") != std::string::npos;
      // fp32 and bf16 on oneDNN's packed matmul (AVX-512) or the fixed-order GEMM (below).
      CHECK(claims);
      if (claims) CHECK(variance(*model) == "");
    }
  VisionTransformerOptions pooler;
  pooler.pooling = "pooler";
  const auto vit = VisionTransformer::load(vision_case("vit-b16"), pooler);
  INFO(vit->describe());
  CHECK_THAT(vit->describe(), Catch::Contains("; batch-invariant"));
  CHECK(variance(*vit) == "");
}
