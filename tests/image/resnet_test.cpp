// ResNet parity with torchvision: random-weight resnet18/resnet50 (non-trivial BatchNorm
// statistics, int64 num_batches_tracked buffers) saved by tests/fixtures/image/gen_resnet.py,
// and torchvision's own outputs on the same input tensors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include "embedflow/cpu.h"
#include "models/inspect.h"
#include "models/model_path.h"
#include "models/resnet.h"
#include "models/safetensors.h"
#include "models/torchscript_encoder.h"
#include "stages/image/encode.h"
#include "tests/image/image_test_util.h"

using namespace embedflow;
using namespace embedflow::models;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

constexpr double kTol = 1e-4;  // max |Δ| ≤ kTol × max |ref|

Tensor run(const std::string& model, ResNetOptions opt, const Tensor& input) {
  auto enc = ResNetEncoder::load(model, opt);
  return enc->encode(input, 2);
}

std::string load_error(const std::string& model, ResNetOptions opt = {}) {
  try {
    ResNetEncoder::load(model, opt);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

// Rewrites a safetensors file through `edit(name, dtype, shape, bytes) -> keep?`.
template <class Edit>
void rewrite(const std::string& src, const std::string& dst, Edit edit) {
  auto f = SafeTensorsFile::open(src);
  std::vector<RawTensor> out;
  for (const auto& t : f->tensors()) {
    RawTensor r{t.name, t.dtype, t.shape,
                std::string(reinterpret_cast<const char*>(f->data(t)), t.nbytes)};
    if (edit(r)) out.push_back(std::move(r));
  }
  write_file(dst, safetensors_bytes(out));
}

}  // namespace

const char* const kEngines[] = {"auto", "winograd", "onednn", "aten"};

TEST_CASE("resnet18 pooled features match torchvision (all engines and settings)") {
  const Tensor input = load_npy(gen("input.npy"));
  const Tensor ref = load_npy(gen("resnet18_pool.npy"));
  for (const char* engine : kEngines)
    for (bool fold : {true, false})
      for (bool cl : {true, false})
        for (int64_t per_call : {0, 2}) {  // 2: the 3 images run as 2 + 1
          ResNetOptions opt;
          opt.engine = engine;
          opt.fold_batchnorm = fold;
          opt.channels_last = cl;
          opt.max_images_per_call = per_call;
          const Diff d = diff(run(gen("resnet18.safetensors"), opt, input), ref);
          INFO("engine=" << engine << " fold=" << fold << " channels_last=" << cl << " per_call="
                         << per_call << " max|d|=" << d.max_abs << " max|ref|=" << d.max_ref);
          CHECK(d.rel() <= kTol);
        }
}

TEST_CASE("resnet50 pooled features match torchvision (each engine)") {
  const Tensor input = load_npy(gen("input.npy"));
  const Tensor ref = load_npy(gen("resnet50_pool.npy"));
  for (const char* engine : kEngines) {
    ResNetOptions opt;
    opt.engine = engine;
    auto enc = ResNetEncoder::load(gen("resnet50.safetensors"), opt);
    CHECK(enc->dim() == 2048);
    const Tensor out = enc->encode(input, 2);
    REQUIRE(out.shape() == std::vector<int64_t>{3, 2048});
    const Diff d = diff(out, ref);
    INFO("engine=" << engine << " max|d|=" << d.max_abs << " max|ref|=" << d.max_ref);
    CHECK(d.rel() <= kTol);
  }
}

TEST_CASE("ResNeXt and Wide ResNet pooled features match torchvision (each engine)") {
  // torchvision's resnext50_32x4d (32 groups of 4 channels in each 3x3) and wide_resnet50_2
  // (3x3s twice as wide), told apart by their keys' shapes alone.
  const Tensor input = load_npy(gen("input.npy"));
  for (const char* arch : {"resnext50_32x4d", "wide_resnet50_2"}) {
    const std::string file = gen(std::string(arch) + ".safetensors");
    CHECK(detect_resnet_arch(*SafeTensorsFile::open(file)) == arch);
    const Tensor ref = load_npy(gen(std::string(arch) + "_pool.npy"));
    for (const char* engine : kEngines) {
      ResNetOptions opt;
      opt.engine = engine;
      auto enc = ResNetEncoder::load(file, opt);
      CHECK(enc->dim() == 2048);
      CHECK(enc->describe().rfind(arch, 0) == 0);
      const Diff d = diff(enc->encode(input, 2), ref);
      INFO(arch << " engine=" << engine << " max|d|=" << d.max_abs << " max|ref|=" << d.max_ref);
      CHECK(d.rel() <= kTol);
    }
  }
}

TEST_CASE("encode.image's arch choices are the architectures ResNet loading knows") {
  std::vector<std::string> want = {"auto"};
  for (const auto& a : resnet_arches()) want.push_back(a);
  CHECK(encode_image_schema().find_param("arch")->choices == want);
}

TEST_CASE("engines agree with libtorch's own ops on odd image sizes") {
  // 97x131: every feature map has a ragged edge (Winograd tiles, stride-2 padding), and the
  // layer outputs are compared too, not only the pooled features.
  Tensor input(DType::F32, {2, 3, 97, 131});
  for (int64_t i = 0; i < input.numel(); ++i)
    input.data<float>()[i] = static_cast<float>(std::sin(0.37 * double(i))) * 2.0f;
  for (const char* model : {"resnet18.safetensors", "resnet50.safetensors"})
    for (const char* layer : {"layer1", "layer2", "layer4", "pool"}) {
      ResNetOptions ref_opt;
      ref_opt.engine = "aten";
      ref_opt.fold_batchnorm = false;
      ref_opt.channels_last = false;
      ref_opt.layer = layer;
      const Tensor ref = run(gen(model), ref_opt, input);
      for (const char* engine : {"winograd", "onednn"}) {
        ResNetOptions opt;
        opt.engine = engine;
        opt.layer = layer;
        const Diff d = diff(run(gen(model), opt, input), ref);
        INFO(model << " " << layer << " engine=" << engine << " max|d|=" << d.max_abs
                   << " max|ref|=" << d.max_ref);
        CHECK(d.rel() <= kTol);
      }
    }
}

TEST_CASE("engines agree on one thread and on two, and an unknown engine is an error") {
  const Tensor input = load_npy(gen("input.npy"));
  const Tensor ref = load_npy(gen("resnet18_pool.npy"));
  for (const char* engine : {"winograd", "onednn"}) {
    ResNetOptions opt;
    opt.engine = engine;
    auto enc = ResNetEncoder::load(gen("resnet18.safetensors"), opt);
    const Diff d1 = diff(enc->encode(input, 1), ref);
    const Diff d2 = diff(enc->encode(input, 2), ref);
    INFO("engine=" << engine << " 1 thread max|d|=" << d1.max_abs << ", 2: " << d2.max_abs);
    CHECK(d1.rel() <= kTol);
    CHECK(d2.rel() <= kTol);
  }
  ResNetOptions bad;
  bad.engine = "cuda";
  CHECK_THAT(load_error(gen("resnet18.safetensors"), bad), Catch::Contains("unknown engine"));
}

TEST_CASE("resnet18 logits, layer3 feature map and L2 normalisation") {
  const Tensor input = load_npy(gen("input.npy"));
  for (const char* engine : kEngines) {
    ResNetOptions o;
    o.engine = engine;
    o.layer = "logits";
    const Diff logits =
        diff(run(gen("resnet18.safetensors"), o, input), load_npy(gen("resnet18_logits.npy")));
    INFO("engine=" << engine << " logits max|d|=" << logits.max_abs);
    CHECK(logits.rel() <= kTol);

    // 14x14 maps: Winograd's 4x4 tiles overhang the edge.
    o.layer = "layer3";
    auto enc = ResNetEncoder::load(gen("resnet18.safetensors"), o);
    CHECK(enc->dim() == 256);
    const Diff l3 = diff(enc->encode(input, 2), load_npy(gen("resnet18_layer3.npy")));
    INFO("engine=" << engine << " layer3 max|d|=" << l3.max_abs);
    CHECK(l3.rel() <= kTol);
  }

  ResNetOptions opt;
  opt.layer = "pool";
  opt.normalize = true;
  const Tensor n = run(gen("resnet18.safetensors"), opt, input);
  const Tensor ref = load_npy(gen("resnet18_pool.npy"));
  for (int64_t i = 0; i < 3; ++i) {
    double ss = 0, ref_ss = 0;
    for (int64_t j = 0; j < 512; ++j) {
      ss += double(n.data<float>()[i * 512 + j]) * n.data<float>()[i * 512 + j];
      ref_ss += double(ref.data<float>()[i * 512 + j]) * ref.data<float>()[i * 512 + j];
    }
    CHECK(ss == Approx(1.0).epsilon(1e-5));
    const double scale = 1.0 / std::sqrt(ref_ss);
    for (int64_t j = 0; j < 512; j += 37)
      CHECK(n.data<float>()[i * 512 + j] ==
            Approx(ref.data<float>()[i * 512 + j] * scale).margin(1e-5));
  }
}

TEST_CASE("architecture from config.json (timm folder layout) or from the keys") {
  TempDir dir("arch");
  fs::create_symlink(gen("resnet18.safetensors"), dir.file("model.safetensors"));
  write_file(dir.file("config.json"), R"({"architecture": "resnet18", "num_classes": 1000})");
  auto enc = ResNetEncoder::load(dir.path(), {});
  CHECK(enc->dim() == 512);
  CHECK_THAT(enc->describe(), Catch::Contains("resnet18"));
  // The wrong architecture named explicitly: every structural difference is listed.
  ResNetOptions opt;
  opt.arch = "resnet34";
  const std::string msg = load_error(gen("resnet18.safetensors"), opt);
  CHECK_THAT(msg, Catch::Contains("missing: layer1.2.conv1.weight"));
  CHECK_THAT(msg, Catch::Contains(gen("resnet18.safetensors")));
  opt.arch = "resnet50";
  CHECK_THAT(load_error(gen("resnet18.safetensors"), opt),
             Catch::Contains("wrong shape: layer1.0.conv1.weight expected [64, 64, 1, 1] found "
                             "[64, 64, 3, 3]"));
}

TEST_CASE("model files with a missing key, a wrong shape, or truncated data are rejected") {
  TempDir dir("bad");
  rewrite(gen("resnet18.safetensors"), dir.file("missing.safetensors"),
          [](RawTensor& t) { return t.name != "layer2.1.bn2.running_var"; });
  CHECK_THAT(load_error(dir.file("missing.safetensors")),
             Catch::Contains("missing: layer2.1.bn2.running_var"));

  rewrite(gen("resnet18.safetensors"), dir.file("shape.safetensors"), [](RawTensor& t) {
    if (t.name == "layer3.0.downsample.0.weight") {
      t.shape = {256, 128, 1, 1};
      t.bytes.resize(256 * 128 * 4 / 2);
      t.shape = {128, 128, 1, 1};
    }
    return true;
  });
  CHECK_THAT(load_error(dir.file("shape.safetensors")),
             Catch::Contains("wrong shape: layer3.0.downsample.0.weight expected [256, 128, 1, 1] "
                             "found [128, 128, 1, 1]"));

  rewrite(gen("resnet18.safetensors"), dir.file("extra.safetensors"),
          [](RawTensor&) { return true; });
  {
    auto bytes = read_file(dir.file("extra.safetensors"));
    write_file(dir.file("cut.safetensors"), bytes.substr(0, bytes.size() / 2));
  }
  const std::string cut = load_error(dir.file("cut.safetensors"));
  CHECK_THAT(cut, Catch::Contains(dir.file("cut.safetensors")));
  CHECK_THAT(cut, Catch::Contains("run past the end"));

  CHECK_THAT(load_error(dir.file("nothing.safetensors")), Catch::Contains("does not exist"));
  write_file(dir.file("weights.bin"), "not a pickle");
  CHECK_THAT(load_error(dir.file("weights.bin")), Catch::Contains("convert it with"));
}

TEST_CASE("logits need the fc layer, a headless checkpoint still gives pooled features") {
  TempDir dir("headless");
  rewrite(gen("resnet18.safetensors"), dir.file("headless.safetensors"),
          [](RawTensor& t) { return t.name.rfind("fc.", 0) != 0; });
  const Tensor input = load_npy(gen("input.npy"));
  const Diff d =
      diff(run(dir.file("headless.safetensors"), {}, input), load_npy(gen("resnet18_pool.npy")));
  CHECK(d.rel() <= kTol);
  ResNetOptions opt;
  opt.layer = "logits";
  CHECK_THAT(load_error(dir.file("headless.safetensors"), opt),
             Catch::Contains("needs the fc layer"));
}

TEST_CASE("TorchScript escape hatch runs an exported module as-is") {
  const Tensor input = load_npy(gen("input.npy"));
  auto enc = TorchScriptEncoder::load(gen("resnet18.ts"));
  const Diff d = diff(enc->encode(input, 2), load_npy(gen("resnet18_ts_out.npy")));
  INFO("max|d|=" << d.max_abs);
  CHECK(d.rel() <= kTol);
  CHECK(enc->dim() == 1000);
  // auto-detects a TorchScript archive by extension + zip magic.
  CHECK(resolve_model_path(gen("resnet18.ts")).format == ModelFormat::TorchScript);
  std::string error;
  try {
    TorchScriptEncoder::load(gen("resnet18.safetensors"));
  } catch (const ModelError& e) {
    error = e.what();
  }
  CHECK_THAT(error, Catch::Contains("TorchScript"));
}

TEST_CASE("inspect prints architecture, parameter count and the tensor table") {
  const std::string out = inspect_model(gen("resnet18.safetensors"));
  CHECK_THAT(out, Catch::Contains("resnet18 (torchvision/timm layout"));
  // torchvision resnet18 state_dict: 11,689,512 parameters + 9,600 BN running stats + 20
  // num_batches_tracked = 11,699,132 values in 122 tensors.
  CHECK_THAT(out, Catch::Contains("parameters:    11699132 "));
  CHECK_THAT(out, Catch::Contains("122 tensors"));
  CHECK_THAT(out, Catch::Contains("layer4.1.bn2.num_batches_tracked"));
  CHECK_THAT(out, Catch::Contains("conv1.weight"));
  CHECK_THAT(out, Catch::Contains("[64, 3, 7, 7]"));
  CHECK_THAT(out, Catch::Contains("format = pt"));
}

// #16: an image's features are the same bytes whatever its batch, its place in it and the
// thread count where the encoder says so (describe): the onednn and winograd engines at every
// level (winograd's GEMMs: oneDNN's packed matmul from avx512 up, the fixed-order GEMM below),
// aten nowhere.
TEST_CASE("resnet: features are the same bytes in any batch and at any thread count") {
  namespace cpu = embedflow::cpu;
  constexpr int64_t kImages = 9, kSide = 96;
  Tensor pixels(DType::F32, {kImages, 3, kSide, kSide});
  std::mt19937 rng(16);
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < pixels.numel(); ++i) pixels.data<float>()[i] = normal(rng);
  std::vector<cpu::Level> levels{cpu::active_level()};
  if (levels[0] > cpu::Level::Avx2) levels.push_back(cpu::Level::Avx2);
  // resnext50_32x4d: its grouped 3x3s run on other kernels (oneDNN's grouped NHWC ones).
  for (const char* arch : {"resnet18", "resnext50_32x4d"})
    for (const auto level : levels)
      for (const char* engine : {"winograd", "onednn", "aten"}) {
        if (std::string(arch) != "resnet18" && std::string(engine) == "aten") continue;
        const cpu::ScopedLevelForTesting at(level);
        ResNetOptions opt;
        opt.engine = engine;
        const auto enc = ResNetEncoder::load(gen(std::string(arch) + ".safetensors"), opt);
        const std::string described = enc->describe();
        INFO("level " << cpu::level_name(level) << ", engine " << engine << ": " << described);
        const bool claims = described.find("; batch-invariant") != std::string::npos;
        CHECK(claims == (std::string(engine) != "aten"));
        if (!claims) {
          CHECK_THAT(described, Catch::EndsWith("; last bits vary with the batch"));
          continue;
        }
        CHECK(embedflow::test::batch_variance(
                  kImages, [&](const std::vector<int64_t>& items, int threads) {
                    return enc->encode(gather_rows(pixels, items), threads);
                  }) == "");
      }
}
