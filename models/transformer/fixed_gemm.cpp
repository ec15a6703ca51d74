#include "models/transformer/fixed_gemm.h"

#include <ATen/Parallel.h>

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

void PackedWeights::run_parallel(const float* a, int64_t m, float* out, bool accumulate) const {
  const int64_t mr = kernels_->mr, panel_count = panels();
  // About 128 KiB of a per block, in whole tiles.
  const int64_t block = std::max<int64_t>(mr, 32768 / std::max<int64_t>(1, k_) / mr * mr);
  const int64_t blocks = (m + block - 1) / block;
  const int64_t threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  // Split the panels too when there are fewer than ~4 row blocks per thread (a few sentences).
  const int64_t wanted =
      std::min(panel_count, std::max<int64_t>(1, (4 * threads + blocks - 1) / blocks));
  const int64_t per_group = (panel_count + wanted - 1) / wanted;
  const int64_t groups = (panel_count + per_group - 1) / per_group;
  const auto task = [&](int64_t t) {
    const int64_t r0 = (t / groups) * block, p0 = (t % groups) * per_group;
    run(a + r0 * k_, k_, std::min(block, m - r0), out + r0 * n_, n_, accumulate, p0,
        std::min(panel_count, p0 + per_group));
  };
  if (threads <= 1 || blocks * groups == 1) {
    for (int64_t t = 0; t < blocks * groups; ++t) task(t);
    return;
  }
  at::parallel_for(0, blocks * groups, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) task(t);
  });
}

}  // namespace embedflow::models::transformer::fixed_gemm
