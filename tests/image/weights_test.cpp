// WeightLoader: checked retrieval (missing / unexpected / mis-shaped reported together), prefixes,
// ignore patterns, and dtype conversion to float32 (against numpy's F16/BF16 rounding).
#include <catch2/catch.hpp>

#include "models/safetensors.h"
#include "models/weights.h"
#include "tests/image/image_test_util.h"

using namespace embedflow;
using namespace embedflow::models;
using namespace embedflow::test;

namespace {

std::shared_ptr<SafeTensorsFile> write_and_open(const TempDir& dir, const std::string& name,
                                                const std::vector<RawTensor>& tensors) {
  write_file(dir.file(name), safetensors_bytes(tensors));
  return SafeTensorsFile::open(dir.file(name));
}

std::string finish_error(WeightLoader& loader) {
  try {
    loader.finish();
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("weights: take returns the stored values without a copy") {
  TempDir dir("w");
  auto f = write_and_open(dir, "m.safetensors", {{"w", "F32", {2, 2}, f32_bytes({1, 2, 3, 4})}});
  WeightLoader loader(f);
  torch::Tensor w = loader.take("w", {2, 2});
  CHECK(w.dtype() == torch::kFloat32);
  CHECK(w.sizes() == c10::IntArrayRef({2, 2}));
  CHECK(w[1][0].item<float>() == 3.0f);
  CHECK(w.data_ptr() == static_cast<const void*>(f->data(*f->find("w"))));  // aliases the map
  // In-place changes go to the private copy-on-write mapping, not the file.
  w.mul_(2);
  auto again = SafeTensorsFile::open(dir.file("m.safetensors"));
  float v;
  std::memcpy(&v, again->data(*again->find("w")), 4);
  CHECK(v == 1.0f);
  CHECK(finish_error(loader).empty());
}

TEST_CASE("weights: all problems are reported together, with expected vs found shapes") {
  TempDir dir("w");
  auto f = write_and_open(dir, "bad.safetensors",
                          {{"conv.weight", "F32", {2, 3}, f32_bytes({0, 0, 0, 0, 0, 0})},
                           {"extra.bias", "F32", {1}, f32_bytes({0})},
                           {"steps", "I64", {1}, std::string(8, '\0')},
                           {"bn.num_batches_tracked", "I64", {}, std::string(8, '\0')}});
  WeightLoader loader(f);
  loader.ignore(".*num_batches_tracked");
  torch::Tensor w = loader.take("conv.weight", {3, 2});
  CHECK(w.sizes() == c10::IntArrayRef({3, 2}));  // zeros of the expected shape
  loader.take("bn.weight", {4});
  loader.take("steps", {1});
  const std::string msg = finish_error(loader);
  CHECK_THAT(msg, Catch::StartsWith(dir.file("bad.safetensors") + ": "));
  CHECK_THAT(msg, Catch::Contains("missing: bn.weight"));
  CHECK_THAT(msg, Catch::Contains("unexpected: extra.bias"));
  CHECK_THAT(msg, Catch::Contains("wrong shape: conv.weight expected [3, 2] found [2, 3]"));
  CHECK_THAT(msg, Catch::Contains("wrong dtype: steps expected a float type found I64"));
  CHECK_THAT(msg, !Catch::Contains("num_batches_tracked"));
}

TEST_CASE("weights: prefixes are tried in order and ignore patterns see the bare name") {
  TempDir dir("w");
  auto f = write_and_open(dir, "p.safetensors",
                          {{"bert.embeddings.weight", "F32", {1}, f32_bytes({5})},
                           {"bert.pooler.dense.bias", "F32", {1}, f32_bytes({1})},
                           {"cls.predictions.bias", "F32", {1}, f32_bytes({2})}});
  WeightLoader loader(f, {"", "bert."});
  CHECK(loader.has("embeddings.weight"));
  CHECK_FALSE(loader.has("embeddings.bias"));
  CHECK(loader.take("embeddings.weight", {1}).item<float>() == 5.0f);
  loader.ignore("pooler\\..*");
  CHECK_THAT(finish_error(loader), Catch::Contains("unexpected: cls.predictions.bias"));
  loader.ignore("cls\\..*");
  CHECK(finish_error(loader).empty());
}

TEST_CASE("weights: F16, BF16 and F64 become float32 exactly as numpy/torch round them") {
  auto f = SafeTensorsFile::open(gen("dtypes.safetensors"));
  const Tensor expected = load_npy(gen("dtypes_expected.npy"));  // [3, 2, 4]
  WeightLoader loader(f);
  int k = 0;
  for (const char* name : {"f16", "bf16", "f64"}) {
    torch::Tensor t = loader.take(name, {2, 4});
    REQUIRE(t.dtype() == torch::kFloat32);
    for (int i = 0; i < 8; ++i) {
      INFO(name << "[" << i << "]");
      CHECK(t.flatten()[i].item<float>() == expected.data<float>()[k * 8 + i]);
    }
    ++k;
  }
  torch::Tensor i64 = loader.take_any("i64");
  CHECK(i64.dtype() == torch::kInt64);
  CHECK(i64[1][2].item<int64_t>() == 5);
  loader.take("f32", {2, 4});
  CHECK(finish_error(loader).empty());
}
