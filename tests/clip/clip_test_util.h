// Shared by the CLIP tests: expectations written by tests/fixtures/clip/gen_clip_fixture.py.
#pragma once

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "embedflow/tensor.h"
#include "tests/support/test_support.h"

namespace clip_test {

using embedflow::DType;
using embedflow::Tensor;

// The tolerance of the issue: max |Δ| of an embedding against the Python reference.
constexpr float kEmbeddingTolerance = 1e-4f;

inline float max_abs_diff(const float* a, const float* b, int64_t n) {
  float m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

inline float max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  return max_abs_diff(a.data<float>(), b.data<float>(), a.numel());
}

// Row `i` of an f32 [N, ...] tensor as a tensor of the remaining shape (a copy).
inline Tensor row(const Tensor& t, int64_t i) {
  std::vector<int64_t> shape(t.shape().begin() + 1, t.shape().end());
  Tensor out(DType::F32, shape);
  std::copy_n(t.data<float>() + i * out.numel(), out.numel(), out.data<float>());
  return out;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  REQUIRE(f.good());
  return nlohmann::json::parse(f);
}

// Folder of the committed tiny model and its expectations.
inline std::string tiny_model() {
  return embedflow::test::source_path("tests/fixtures/clip/tiny");
}
inline std::string tiny_expected(const std::string& file) {
  return embedflow::test::source_path("tests/fixtures/clip/tiny_expected/" + file);
}

}  // namespace clip_test
