#include "models/torch_bridge.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include <torch/torch.h>

namespace embedflow::models {

namespace {

c10::ScalarType torch_dtype(DType d) {
  switch (d) {
    case DType::F32:
      return torch::kFloat32;
    case DType::U8:
      return torch::kUInt8;
    case DType::I64:
      return torch::kInt64;
  }
  throw std::logic_error("to_torch: unknown dtype");
}

}  // namespace

at::Tensor to_torch(const Tensor& t) {
  return torch::from_blob(const_cast<void*>(t.raw()), t.shape(), torch_dtype(t.dtype()));
}

Tensor from_torch(const at::Tensor& t) {
  auto holder = std::make_shared<torch::Tensor>(t.to(torch::kFloat32).contiguous());
  return Tensor(DType::F32, holder->sizes().vec(), holder, holder->data_ptr());
}

void l2_normalize_rows(float* data, int64_t rows, int64_t dim) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = data + r * dim;
    double sq = 0;
    for (int64_t i = 0; i < dim; ++i) sq += static_cast<double>(row[i]) * row[i];
    const float inv = static_cast<float>(1.0 / std::max(std::sqrt(sq), 1e-12));
    for (int64_t i = 0; i < dim; ++i) row[i] *= inv;
  }
}

void l2_normalize_rows(Tensor& t) {
  if (t.ndim() == 0 || t.dim(0) == 0) return;
  l2_normalize_rows(t.data<float>(), t.dim(0), t.numel() / t.dim(0));
}

}  // namespace embedflow::models
