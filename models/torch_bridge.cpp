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

}  // namespace embedflow::models
