// What crosses between embedflow::Tensor and libtorch, and the one L2 row normalisation.
// Torch-free header: at::Tensor is only declared, so stages can call l2_normalize_rows, and only
// models/ code (which includes torch) can call the two conversions.
#pragma once

#include <cstdint>

#include "embedflow/tensor.h"

namespace at {
class Tensor;
}  // namespace at

namespace embedflow::models {

// A torch view of `t`'s memory (no copy; `t` must outlive it). Callers only read it: the
// memory may be shared with other items.
at::Tensor to_torch(const Tensor& t);
// An f32 embedflow Tensor holding `t` (made contiguous f32 first), sharing its storage.
Tensor from_torch(const at::Tensor& t);

// Divides each of the `rows` rows of `dim` floats by max(‖row‖₂, 1e-12), as
// torch.nn.functional.normalize: the norm accumulated in double, one multiplication per value.
void l2_normalize_rows(float* data, int64_t rows, int64_t dim);
// The same on every row of f32 [N, …] (rows: the first dimension), in place.
void l2_normalize_rows(Tensor& t);

}  // namespace embedflow::models
