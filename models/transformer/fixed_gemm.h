// An fp32 GEMM whose every output element is one multiply-add chain over k = 0, 1, …, K−1, in
// that order, whatever the row count, the row's place in the batch, the tiling or the threads:
// out[r, c] = Σ_k a[r, k] · W[c, k] summed the same way for every r, so an embedding is the same
// bits alone or in any batch (#16). It serves where oneDNN's packed f32 matmul is not
// batch-invariant (below AVX-512: PackedMatmul::f32_invariant_here), in the transformer's Linear
// layers and the convolution engine's GEMMs, instead of sgemm, whose K blocking and K-split
// threading follow the row count.
//
// Why it can be fast without reordering: the vectors run along the output columns (each lane its
// own output element), so no horizontal sums are needed and each lane's chain stays in k order;
// W is packed once into panels of `nr` columns (a level's tile width) that a tile streams from the
// caches while `mr` rows of a broadcast in turn.
//
// Torch-free; compiled once per CPU level from fixed_gemm_impl.h (baseline, avx2, avx512) and
// picked at run time (embedflow/cpu.h). A level's results are its own: AVX2 fuses each
// multiply-add, the baseline rounds twice, so the bits differ between levels, never within one.
#pragma once

#include <cstdint>
#include <vector>

#include "embedflow/cpu.h"

namespace embedflow::models::transformer::fixed_gemm {

struct Kernels {
  const char* build;  // the level this table was compiled for
  int64_t mr;         // rows per tile
  int64_t nr;         // columns per packed panel
  int64_t kc;         // k per block (a block of a panel stays in L1)
  // W (n × k, element (c, i) at w[c·stride_n + i·stride_k]) into ⌈n/nr⌉ panels of nr columns:
  // panel p holds W[p·nr + j, i] at packed[(p·k + i)·nr + j], columns past n zero.
  void (*pack)(const float* w, int64_t n, int64_t k, int64_t stride_n, int64_t stride_k,
               float* packed);
  // out[r, c − p0·nr] = Σ_i a[r, i] · W[c, i] (+ its value before, when accumulate) for rows
  // [0, m) and the columns c of panels [p0, p1): `out` points at panel p0's first column; rows
  // of a are lda apart, of out ldo apart.
  void (*run)(const float* a, int64_t lda, int64_t m, const float* packed, int64_t n, int64_t k,
              int64_t p0, int64_t p1, float* out, int64_t ldo, bool accumulate);
};

// The build for `level` (by default the level in effect).
const Kernels& table(cpu::Level level = cpu::active_level());

// How a product of m rows with panels [p_begin, p_end) is cut for threads: blocks of rows (a
// block's rows of `a` stay in the core's L2 while its panels pass) times groups of panels, enough
// tasks for every thread. The cut changes no bit of the result.
struct Split {
  int64_t rows_per_block, blocks, panels_per_group, groups, p_begin, p_end;
  int64_t tasks() const { return blocks * groups; }
};

// W packed once for one level's kernels, and the product with it.
class PackedWeights {
 public:
  PackedWeights(const float* w, int64_t n, int64_t k, int64_t stride_n, int64_t stride_k,
                const Kernels& kernels = table());
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  int64_t panels() const { return (n_ + kernels_->nr - 1) / kernels_->nr; }
  const Kernels& kernels() const { return *kernels_; }
  // Rows [0, m) against the columns of panels [p0, p1), on the calling thread; `out` points at
  // panel p0's first column.
  void run(const float* a, int64_t lda, int64_t m, float* out, int64_t ldo, bool accumulate,
           int64_t p0, int64_t p1) const {
    kernels_->run(a, lda, m, packed_.data(), n_, k_, p0, p1, out, ldo, accumulate);
  }
  // Every column, on the calling thread.
  void run(const float* a, int64_t lda, int64_t m, float* out, int64_t ldo, bool accumulate) const {
    run(a, lda, m, out, ldo, accumulate, 0, panels());
  }
  // The cut of m rows × panels [p_begin, p_end) for `threads` threads, and one task of it (any
  // thread, any order): rows of a k floats apart, out's rows ldo apart, `out` pointing at panel
  // p_begin's first column.
  Split split(int64_t m, int64_t threads, int64_t p_begin, int64_t p_end) const;
  void run_task(const Split& s, int64_t task, const float* a, int64_t m, float* out, int64_t ldo,
                bool accumulate) const;

 private:
  const Kernels* kernels_;
  int64_t n_, k_;
  std::vector<float> packed_;
};

}  // namespace embedflow::models::transformer::fixed_gemm
