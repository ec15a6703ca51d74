// Helpers for the image tests: writing safetensors files by hand (independently of the reader
// under test), comparing tensors, and the generated fixture folder.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embedflow/tensor.h"
#include "tests/support/test_support.h"

namespace embedflow::test {

// <build>/generated/image, written by tests/fixtures/image/gen_resnet.py (CTest fixture).
inline std::string gen(const std::string& rel) {
  return binary_path("generated/image/" + rel);
}

struct RawTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Header JSON + data exactly as the safetensors format defines it.
inline std::string safetensors_bytes(const std::vector<RawTensor>& tensors,
                                     const nlohmann::json& metadata = nullptr) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  while (text.size() % 8) text += ' ';
  std::string out(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + text + data;
}

// A raw file from a header string and a data blob (for malformed headers).
inline std::string raw_safetensors(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

inline std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

struct Diff {
  double max_abs = 0;  // max |a - b|
  double max_ref = 0;  // max |b|
  double rel() const { return max_ref > 0 ? max_abs / max_ref : max_abs; }
};

inline Diff diff(const Tensor& a, const Tensor& b) {
  Diff d;
  if (a.shape() != b.shape()) {
    d.max_abs = INFINITY;
    return d;
  }
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) {
    d.max_abs = std::max(d.max_abs, std::fabs(double(pa[i]) - pb[i]));
    d.max_ref = std::max(d.max_ref, std::fabs(double(pb[i])));
  }
  return d;
}

}  // namespace embedflow::test
