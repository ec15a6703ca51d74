// Bodies of the index's inner products (distance.h), compiled once per CPU level by
// embedflow_cpu_kernels (cmake/CpuKernels.cmake). Sixteen independent partial sums: the
// vectoriser turns them into two AVX (four SSE) registers of fused multiply-adds without
// reassociating a single sum, which it may not do for floats.
#ifndef EMBEDFLOW_CPU_TARGET
#error "compiled only through embedflow_cpu_kernels (cmake/CpuKernels.cmake)"
#endif

#include "stages/index/distance.h"

namespace embedflow::vindex::kernels::EMBEDFLOW_CPU_TARGET {

namespace {

constexpr int kLanes = 16;

float inner_product(const float* __restrict a, const float* __restrict b, int64_t d) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  float tail = 0;
  for (; i < d; ++i) tail += a[i] * b[i];
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0] + tail;
}

void inner_products(const float* __restrict q, const float* __restrict rows, int64_t n, int64_t d,
                    float* __restrict out) {
  for (int64_t r = 0; r < n; ++r) out[r] = inner_product(q, rows + r * d, d);
}

}  // namespace

extern const Table kTable = {EMBEDFLOW_CPU_TARGET_NAME, inner_product, inner_products};

}  // namespace embedflow::vindex::kernels::EMBEDFLOW_CPU_TARGET
