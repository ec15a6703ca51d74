// What crosses between embedflow::Tensor and libtorch. Torch-free header: at::Tensor is only
// declared, and only models/ code (which includes torch) can call the two conversions. The one L2
// row normalisation, l2_normalize_rows, is torch-free in models/similarity.h.
#pragma once

#include <cstdint>

#include "embedflow/tensor.h"
#include "models/similarity.h"

namespace at {
class Tensor;
}  // namespace at

namespace embedflow::models {

// A torch view of `t`'s memory (no copy; `t` must outlive it). Callers only read it: the
// memory may be shared with other items.
at::Tensor to_torch(const Tensor& t);
// An f32 embedflow Tensor holding `t` (made contiguous f32 first), sharing its storage.
Tensor from_torch(const at::Tensor& t);

}  // namespace embedflow::models
