// encode.clip_image / encode.clip_text built from their schemas, on the tiny model: parity through
// the stages, bad items failing alone, the options.
#include <catch2/catch.hpp>

#include "embedflow/config.h"
#include "models/tokenizers/openai_clip_text.h"
#include "stages/clip/encode_image.h"
#include "stages/clip/encode_text.h"
#include "stages/image/load.h"
#include "tests/clip/clip_test_util.h"

using namespace clip_test;
using namespace embedflow;
using embedflow::test::load_npy;
using embedflow::test::source_path;

namespace {

StageContext context(const std::string& id) {
  StageContext ctx;
  ctx.stage_id = id;
  ctx.threads = 2;
  return ctx;
}

// Runs a batch stage over `items`; returns the outputs.
std::vector<Item> run(BatchStage& stage, const std::vector<Item>& items) {
  std::vector<const Item*> in;
  std::vector<Item> out;
  for (const Item& it : items) {
    in.push_back(&it);
    out.push_back(it.derive());
  }
  stage.process_batch(in, out);
  return out;
}

Item text_item(const std::string& id, const std::string& text) {
  Item it;
  it.id = id;
  it.kind = Kind::Text;
  it.text = text;
  return it;
}

Item tensor_item(const std::string& id, Kind kind, Tensor t) {
  Item it;
  it.id = id;
  it.kind = kind;
  it.tensor = std::move(t);
  return it;
}

Tensor load_image(const std::string& rel) {
  const std::string bytes = embedflow::test::read_file(source_path(rel));
  return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), rel,
                      ImageDecodeOptions{});
}

}  // namespace

TEST_CASE("encode.clip_text: captions, empty and overlong, match the reference", "[clip][stage]") {
  const auto expected = read_json(tiny_expected("expected.json"));
  const auto captions = expected["captions"].get<std::vector<std::string>>();
  const Tensor want = load_npy(tiny_expected("text.npy"));
  // The reference is clip.tokenize's, so OpenAI's cleaning.
  ClipTextEncodeStage stage(resolve_params(encode_clip_text_schema(), "text",
                                           {{"model", tiny_model()}, {"text_cleaning", "openai"}}));
  stage.open(context("text"));
  std::vector<Item> items;
  for (size_t i = 0; i < captions.size(); ++i)
    items.push_back(text_item("c" + std::to_string(i), captions[i]));
  const auto out = run(stage, items);
  for (size_t i = 0; i < out.size(); ++i) {
    INFO("caption " << i);
    REQUIRE_FALSE(out[i].failed());
    CHECK(out[i].kind == Kind::Embedding);
    CHECK(out[i].tensor.shape() == std::vector<int64_t>{24});
    CHECK(max_abs_diff(out[i].tensor, row(want, static_cast<int64_t>(i))) <= kEmbeddingTolerance);
  }
  CHECK(out[5].meta.value("truncated", false));  // the overlong caption
  CHECK_FALSE(out[0].meta.contains("truncated"));

  // By default the ids are the folder tokenizer's own (HF's), without OpenAI's cleaning: for a
  // caption with curly quotes and an HTML entity they differ, and the embedding follows them.
  ClipTextEncodeStage hf(
      resolve_params(encode_clip_text_schema(), "text_hf", {{"model", tiny_model()}}));
  hf.open(context("text_hf"));
  const std::string caption = "It\u2019s a &amp; test";
  const auto model = embedflow::models::ClipModel::load(tiny_model());
  const auto hf_ids = model->tokenize(caption);
  CHECK(hf_ids != model->tokenize(embedflow::tokenizers::clip_clean_text(caption)));
  const auto hf_out = run(hf, {text_item("q", caption)});
  REQUIRE_FALSE(hf_out[0].failed());
  CHECK(max_abs_diff(hf_out[0].tensor, row(model->encode({hf_ids}, 1), 0)) <= kEmbeddingTolerance);
}

TEST_CASE("encode.clip_text: truncate false fails only the overlong caption", "[clip][stage]") {
  ClipTextEncodeStage stage(resolve_params(encode_clip_text_schema(), "text",
                                           {{"model", tiny_model()}, {"truncate", false}}));
  stage.open(context("text"));
  std::string long_caption;
  for (int i = 0; i < 100; ++i) long_caption += "cat ";
  const auto out = run(stage, {text_item("ok", "a cat"), text_item("long", long_caption),
                               tensor_item("img", Kind::Image, Tensor(DType::U8, {2, 2, 3}))});
  CHECK_FALSE(out[0].failed());
  REQUIRE(out[1].failed());
  CHECK_THAT(out[1].error->message, Catch::Contains("longer than the context of 77"));
  CHECK(out[1].error->stage == "text");
  REQUIRE(out[2].failed());
  CHECK_THAT(out[2].error->message, Catch::Contains("expected a Text item"));
}

TEST_CASE("encode.clip_image: image files, gray and RGBA, through the stage", "[clip][stage]") {
  const auto expected = read_json(tiny_expected("expected.json"));
  const auto files = expected["images"].get<std::vector<std::string>>();
  const Tensor want = load_npy(tiny_expected("image_from_files.npy"));
  ClipImageEncodeStage stage(
      resolve_params(encode_clip_image_schema(), "img", {{"model", tiny_model()}}));
  stage.open(context("img"));
  std::vector<Item> items;
  for (const auto& f : files) items.push_back(tensor_item(f, Kind::Image, load_image(f)));
  // A bad item in the middle of the batch fails alone.
  items.insert(items.begin() + 1, tensor_item("bad", Kind::Image, Tensor(DType::U8, {5, 5, 2})));
  const auto out = run(stage, items);
  REQUIRE(out[1].failed());
  CHECK_THAT(out[1].error->message, Catch::Contains("channels"));
  int64_t k = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (i == 1) continue;
    INFO(out[i].id);
    REQUIRE_FALSE(out[i].failed());
    CHECK(max_abs_diff(out[i].tensor, row(want, k++)) <= kEmbeddingTolerance);
  }
  // A gray image given as one channel [H, W, 1] embeds like its file (expected row 1: gray.png).
  Tensor gray = load_image(files[1]);
  Tensor one_channel(DType::U8, {gray.dim(0), gray.dim(1), 1});
  for (int64_t i = 0; i < gray.dim(0) * gray.dim(1); ++i)
    one_channel.data<uint8_t>()[i] = gray.data<uint8_t>()[i * 3];
  const auto g = run(stage, {tensor_item("gray1", Kind::Image, one_channel)});
  REQUIRE_FALSE(g[0].failed());
  CHECK(max_abs_diff(g[0].tensor, row(want, 1)) <= kEmbeddingTolerance);
}

TEST_CASE("encode.clip_image: prepared tensors, preprocess false, normalize", "[clip][stage]") {
  const Tensor pixels = load_npy(tiny_expected("pixels.npy"));
  const Tensor want = load_npy(tiny_expected("image_from_pixels.npy"));
  ClipImageEncodeStage stage(
      resolve_params(encode_clip_image_schema(), "img",
                     {{"model", tiny_model()}, {"preprocess", false}, {"normalize", true}}));
  stage.open(context("img"));
  const auto out =
      run(stage, {tensor_item("t0", Kind::ImageTensor, row(pixels, 0)),
                  tensor_item("u8", Kind::Image, Tensor(DType::U8, {40, 40, 3})),
                  tensor_item("small", Kind::ImageTensor, Tensor(DType::F32, {3, 8, 8}))});
  REQUIRE_FALSE(out[0].failed());
  // normalize: the reference vector scaled to unit length
  const Tensor ref = row(want, 0);
  double norm = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) norm += ref.data<float>()[i] * ref.data<float>()[i];
  norm = std::sqrt(norm);
  for (int64_t i = 0; i < ref.numel(); ++i)
    CHECK(out[0].tensor.data<float>()[i] == Approx(ref.data<float>()[i] / norm).margin(1e-5));
  REQUIRE(out[1].failed());
  CHECK_THAT(out[1].error->message, Catch::Contains("preprocess is false"));
  REQUIRE(out[2].failed());
  CHECK_THAT(out[2].error->message, Catch::Contains("[3, 32, 32]"));
}

TEST_CASE("encode.clip_*: a model that cannot load is a config error at the model key",
          "[clip][stage]") {
  ClipTextEncodeStage stage(
      resolve_params(encode_clip_text_schema(), "text", {{"model", "/nonexistent/clip-model"}}));
  CHECK_THROWS_AS(stage.open(context("text")), ConfigError);
  CHECK_THROWS_WITH(stage.open(context("text")), Catch::Contains("/nonexistent/clip-model"));
}

TEST_CASE("encode.clip_*: precision int8 runs both towers quantised, apart from fp32",
          "[clip][stage]") {
  // The tiny model's embeddings (reference: tiny_expected) from int8 stages: close, not equal,
  // and the fp32 model the other stages share is not replaced by the int8 one.
  ClipTextEncodeStage text(resolve_params(encode_clip_text_schema(), "text",
                                          {{"model", tiny_model()}, {"precision", "int8"}}));
  text.open(context("text"));
  const auto model = embedflow::models::ClipModel::load(tiny_model());
  const auto out = run(text, {text_item("q", "a photo of a cat")});
  REQUIRE_FALSE(out[0].failed());
  const Tensor fp32 = row(model->encode({model->tokenize("a photo of a cat")}, 1), 0);
  const double c =
      embedflow::test::cosine(out[0].tensor.data<float>(), fp32.data<float>(), fp32.numel());
  INFO("int8 against fp32: cosine " << c);
  CHECK(c >= 0.99);
  CHECK(max_abs_diff(out[0].tensor, fp32) > 0.0f);
  CHECK_THAT(model->describe(), Catch::Contains(", fp32"));
  CHECK_THAT(embedflow::models::ClipModel::load(tiny_model(), embedflow::models::Precision::Int8)
                 ->describe(),
             Catch::Contains(", int8 ("));
}
