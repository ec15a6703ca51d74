// The image path end to end through the stages (image.load → image.preprocess → encode.image)
// against torchvision on the bundled example images, and the batch contract of encode.image.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "embedflow/config.h"
#include "embedflow/errors.h"
#include "stages/image/encode.h"
#include "stages/image/load.h"
#include "stages/image/preprocess.h"
#include "tests/image/image_test_util.h"

using namespace embedflow;
using namespace embedflow::test;

namespace {

std::vector<std::string> example_names() {
  std::ifstream f(gen("e2e/names.txt"));
  std::vector<std::string> names;
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) names.push_back(line);
  return names;
}

Item preprocess_file(const std::string& path, ImageLoadStage& load, ImagePreprocessStage& pre) {
  Item in;
  in.id = path;
  in.source = path;
  in.kind = Kind::File;
  Item img = in.derive();
  load.process(in, img);
  Item x = img.derive();
  pre.process(img, x);
  return x;
}

Tensor stack_rows(const std::vector<Item>& items) {
  const int64_t d = items[0].tensor.numel();
  Tensor out(DType::F32, {static_cast<int64_t>(items.size()), d});
  for (size_t i = 0; i < items.size(); ++i)
    std::memcpy(out.data<float>() + i * d, items[i].tensor.data<float>(), d * sizeof(float));
  return out;
}

}  // namespace

TEST_CASE("example images: preprocess and resnet18 features match torchvision's tensor path") {
  const auto names = example_names();
  REQUIRE(names.size() >= 4);
  ImageLoadStage load(resolve_params(image_load_schema(), "load", Json::object()));
  ImagePreprocessStage pre(resolve_params(image_preprocess_schema(), "pre", Json::object()));
  EncodeImageStage enc(
      resolve_params(encode_image_schema(), "enc", {{"model", gen("resnet18.safetensors")}}));
  StageContext ctx;
  ctx.stage_id = "enc";
  ctx.threads = 2;
  enc.open(ctx);

  std::vector<Item> xs;
  double worst_pixel = 0;
  for (const auto& n : names) {
    Item x = preprocess_file(source_path("examples/media/images/" + n), load, pre);
    const std::string stem = n.substr(0, n.rfind('.'));
    const Tensor ref = load_npy(gen("e2e/" + stem + ".npy"));
    const Diff d = diff(x.tensor, ref);
    INFO(n << ": preprocessed max|d| = " << d.max_abs);
    // One u8 level after Normalize is 1/255/std ≈ 0.0175; only rare ±1 rounding flips allowed.
    CHECK(d.max_abs <= 0.018);
    worst_pixel = std::max(worst_pixel, d.max_abs);
    xs.push_back(std::move(x));
  }

  std::vector<const Item*> in;
  std::vector<Item> out;
  for (const auto& x : xs) {
    in.push_back(&x);
    out.push_back(x.derive());
  }
  enc.process_batch(in, out);
  for (const auto& o : out) {
    REQUIRE_FALSE(o.failed());
    CHECK(o.kind == Kind::Embedding);
    CHECK(o.tensor.shape() == std::vector<int64_t>{512});
  }
  const Tensor feats = stack_rows(out);
  const Diff tv = diff(feats, load_npy(gen("e2e_resnet18_pool.npy")));
  const Diff pil = diff(feats, load_npy(gen("e2e_resnet18_pool_pil.npy")));
  WARN(
      "end to end from files, resnet18 pooled features: vs torchvision tensor path max|d|/max|ref| "
      "= "
      << tv.rel() << " (max|d| " << tv.max_abs << "); vs PIL pipeline " << pil.rel() << " (max|d| "
      << pil.max_abs << "); worst preprocessed value diff " << worst_pixel);
  CHECK(tv.rel() <= 1e-3);   // only the ±1 resize rounding flips
  CHECK(pil.rel() <= 1e-2);  // PIL's 8-bit intermediate resize pass
}

TEST_CASE("encode.image: a malformed item fails alone and mixed sizes are grouped") {
  for (const char* engine : {"auto", "onednn", "aten"}) {
    INFO("engine " << engine);
    EncodeImageStage enc(resolve_params(
        encode_image_schema(), "enc",
        {{"model", gen("resnet18.safetensors")}, {"normalize", true}, {"engine", engine}}));
    StageContext ctx;
    ctx.stage_id = "enc";
    enc.open(ctx);
    const Tensor input = load_npy(gen("input.npy"));  // [3, 3, 224, 224]
    std::vector<Item> items(4);
    for (int i = 0; i < 2; ++i) {
      items[i].kind = Kind::ImageTensor;
      items[i].tensor = Tensor(DType::F32, {3, 224, 224});
      std::memcpy(items[i].tensor.data<float>(), input.data<float>() + i * 3 * 224 * 224,
                  3 * 224 * 224 * sizeof(float));
    }
    items[2].kind = Kind::ImageTensor;
    items[2].tensor = Tensor(DType::F32, {3, 160, 192});  // other size: its own group
    items[3].kind = Kind::ImageTensor;
    items[3].tensor = Tensor(DType::U8, {224, 224, 3});  // not preprocessed
    std::vector<const Item*> in;
    std::vector<Item> out;
    for (auto& it : items) {
      in.push_back(&it);
      out.push_back(it.derive());
    }
    enc.process_batch(in, out);
    CHECK_FALSE(out[0].failed());
    CHECK_FALSE(out[1].failed());
    CHECK_FALSE(out[2].failed());
    REQUIRE(out[3].failed());
    CHECK_THAT(out[3].error->message, Catch::Contains("expected an ImageTensor f32 [3, H, W]"));
    CHECK(out[3].error->stage == "enc");
    // Row 0 equals the normalised torchvision feature of input 0.
    const Tensor ref = load_npy(gen("resnet18_pool.npy"));
    double ss = 0;
    for (int j = 0; j < 512; ++j) ss += double(ref.data<float>()[j]) * ref.data<float>()[j];
    for (int j = 0; j < 512; j += 17)
      CHECK(out[0].tensor.data<float>()[j] ==
            Approx(ref.data<float>()[j] / std::sqrt(ss)).margin(1e-5));
  }
}

TEST_CASE("encode.image: a bad model path is a config error at open, located at `model`") {
  EncodeImageStage enc(
      resolve_params(encode_image_schema(), "enc", {{"model", gen("does-not-exist.safetensors")}}));
  try {
    enc.open({});
    FAIL("open succeeded");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("does not exist"));
    REQUIRE_FALSE(e.diagnostics().empty());
    CHECK(e.diagnostics()[0].stage == "enc");
  }
  const Params layer =
      resolve_params(encode_image_schema(), "enc", {{"model", "m"}, {"layer", "layer2"}});
  CHECK(encode_image_schema().output_kind(layer) == Kind::Tensor);
}

TEST_CASE("encode.image runs a TorchScript archive only when trusted: it is a program") {
  // format auto finds the archive by its extension and zip magic; without the trust it is
  // refused at open, located at `model`, before any of its code runs.
  EncodeImageStage untrusted(
      resolve_params(encode_image_schema(), "enc", {{"model", gen("resnet18.ts")}}));
  try {
    untrusted.open({});
    FAIL("a TorchScript archive was loaded without trust_torchscript");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("TorchScript archive") &&
                             Catch::Contains("trust_torchscript: true"));
  }
  EncodeImageStage trusted(resolve_params(
      encode_image_schema(), "enc", {{"model", gen("resnet18.ts")}, {"trust_torchscript", true}}));
  CHECK_NOTHROW(trusted.open({}));
}

TEST_CASE("image.preprocess: presets, exact resize and ImageTensor input") {
  Tensor img(DType::U8, {30, 40, 3});
  for (int64_t i = 0; i < img.numel(); ++i) img.data<uint8_t>()[i] = uint8_t(i % 251);
  Item in;
  in.kind = Kind::Image;
  in.tensor = img;
  Item out = in.derive();
  ImagePreprocessStage exact(resolve_params(
      image_preprocess_schema(), "p",
      {{"resize", 16}, {"resize_mode", "exact"}, {"crop", 0}, {"mean_std", "none"}}));
  exact.process(in, out);
  CHECK(out.kind == Kind::ImageTensor);
  CHECK(out.tensor.shape() == std::vector<int64_t>{3, 16, 16});
  for (int64_t i = 0; i < out.tensor.numel(); ++i) {
    REQUIRE(out.tensor.data<float>()[i] >= 0.0f);
    REQUIRE(out.tensor.data<float>()[i] <= 1.0f);
  }
  ImagePreprocessStage custom(resolve_params(
      image_preprocess_schema(), "p",
      {{"resize", 0}, {"crop", 0}, {"mean", {0.5, 0.5, 0.5}}, {"std", {0.5, 0.5, 0.5}}}));
  custom.process(in, out);
  CHECK(out.tensor.data<float>()[0] == Approx((0 / 255.0 - 0.5) / 0.5));

  Item spec;
  spec.kind = Kind::ImageTensor;
  spec.tensor = Tensor(DType::F32, {3, 128, 300});
  Item sout = spec.derive();
  ImagePreprocessStage defaults(resolve_params(image_preprocess_schema(), "p", Json::object()));
  defaults.process(spec, sout);
  CHECK(sout.tensor.shape() == std::vector<int64_t>{3, 224, 224});

  Item bad;
  bad.kind = Kind::Image;
  bad.tensor = Tensor(DType::F32, {3, 3});
  CHECK_THROWS_WITH(defaults.process(bad, sout), Catch::Contains("expected an Image u8 [H, W, 3]"));
  CHECK_THROWS(
      ImagePreprocessStage(resolve_params(image_preprocess_schema(), "p", {{"std", {1, 0, 1}}})));
}

TEST_CASE("configs/image_embeddings.yaml runs on the bundled images through the CLI") {
  TempDir dir("cfg");
  const CommandResult r = run_command(
      "MODEL=" + gen("resnet18.safetensors") + " OUT=" + dir.path() + " " + EMBEDFLOW_CLI +
      " run " + source_path("configs/image_embeddings.yaml") + " --progress off");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const Tensor emb = load_npy(dir.file("embeddings.npy"));
  REQUIRE(emb.shape() == std::vector<int64_t>{static_cast<int64_t>(example_names().size()), 512});
  // Rows in file order, the same order the generator used (sorted names).
  const std::string ids = read_file(dir.file("embeddings.jsonl"));
  CHECK(ids.find("astronaut") < ids.find("rocket"));
  const Diff d = diff(emb, load_npy(gen("e2e_resnet18_pool.npy")));
  INFO("max|d| = " << d.max_abs);
  CHECK(d.rel() <= 1e-3);
}
