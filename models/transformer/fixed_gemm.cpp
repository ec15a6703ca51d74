#include "models/transformer/fixed_gemm.h"

#include <algorithm>

namespace embedflow::models::transformer::fixed_gemm {

PackedWeights::PackedWeights(const float* w, int64_t n, int64_t k, int64_t stride_n,
                             int64_t stride_k, const Kernels& kernels)
    : kernels_(&kernels),
      n_(n),
      k_(k),
      packed_(static_cast<size_t>((n + kernels.nr - 1) / kernels.nr * kernels.nr * k)) {
  kernels.pack(w, n, k, stride_n, stride_k, packed_.data());
}

Split PackedWeights::split(int64_t m, int64_t threads, int64_t p_begin, int64_t p_end) const {
  Split s;
  const int64_t mr = kernels_->mr, panel_count = p_end - p_begin;
  // About 128 KiB of `a` per block of rows and of k (the share of `a` one block of a panel
  // meets), in whole tiles.
  const int64_t kc = std::min(k_, kernels_->kc);
  s.rows_per_block = std::max<int64_t>(mr, 32768 / std::max<int64_t>(1, kc) / mr * mr);
  s.blocks = (m + s.rows_per_block - 1) / s.rows_per_block;
  // The panels are split too when there are fewer than ~4 row blocks per thread (a few
  // sentences, a handful of queries).
  const int64_t wanted = std::clamp<int64_t>((4 * threads + s.blocks - 1) / s.blocks, 1,
                                             std::max<int64_t>(1, panel_count));
  s.panels_per_group = std::max<int64_t>(1, (panel_count + wanted - 1) / wanted);
  s.groups = (panel_count + s.panels_per_group - 1) / s.panels_per_group;
  s.p_begin = p_begin;
  s.p_end = p_end;
  return s;
}

void PackedWeights::run_task(const Split& s, int64_t task, const float* a, int64_t m, float* out,
                             int64_t ldo, bool accumulate) const {
  const int64_t r0 = (task / s.groups) * s.rows_per_block;
  const int64_t p0 = s.p_begin + (task % s.groups) * s.panels_per_group;
  const int64_t p1 = std::min(s.p_end, p0 + s.panels_per_group);
  run(a + r0 * k_, k_, std::min(s.rows_per_block, m - r0),
      out + r0 * ldo + (p0 - s.p_begin) * kernels_->nr, ldo, accumulate, p0, p1);
}

}  // namespace embedflow::models::transformer::fixed_gemm
