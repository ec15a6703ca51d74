// Bodies of the fixed-order fp32 GEMM (fixed_gemm.h), compiled once per CPU level by
// embedflow_cpu_kernels (models/text.cmake) into that level's namespace.
//
// A tile is `R` rows (R ≤ mr) × one panel of nr = 2 vectors of columns: 2·R accumulators live in
// registers through the whole k loop, each step loading the panel's two vectors for this k and
// broadcasting the R rows' a[r, k]. Every output element gets acc = 0, then acc = a·b + acc for
// k = 0 … K−1 (one fused multiply-add where the level has FMA), then out = acc or out + acc:
// the same operations in the same order in every tile shape, which is all batch invariance needs.
// mr × nr: AVX-512 8 × 32 (16 accumulators of 32 registers), AVX2 6 × 16 (12 of 16), baseline
// SSE2 4 × 8 (8 of 16).
#ifndef EMBEDFLOW_CPU_TARGET
#error "compiled only through embedflow_cpu_kernels (cmake/CpuKernels.cmake)"
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <immintrin.h>

#include "models/transformer/fixed_gemm.h"

namespace embedflow::models::transformer::fixed_gemm::EMBEDFLOW_CPU_TARGET {

namespace {

#if defined(__AVX512F__)
using V = __m512;
constexpr int64_t kWidth = 16, kMr = 8;
inline V zero() {
  return _mm512_setzero_ps();
}
inline V load(const float* p) {
  return _mm512_loadu_ps(p);
}
inline void store(float* p, V v) {
  _mm512_storeu_ps(p, v);
}
inline V broadcast(const float* p) {
  return _mm512_set1_ps(*p);
}
inline V mul_add(V a, V b, V acc) {
  return _mm512_fmadd_ps(a, b, acc);
}
inline V add(V a, V b) {
  return _mm512_add_ps(a, b);
}
#elif defined(__AVX2__) && defined(__FMA__)
using V = __m256;
constexpr int64_t kWidth = 8, kMr = 6;
inline V zero() {
  return _mm256_setzero_ps();
}
inline V load(const float* p) {
  return _mm256_loadu_ps(p);
}
inline void store(float* p, V v) {
  _mm256_storeu_ps(p, v);
}
inline V broadcast(const float* p) {
  return _mm256_broadcast_ss(p);
}
inline V mul_add(V a, V b, V acc) {
  return _mm256_fmadd_ps(a, b, acc);
}
inline V add(V a, V b) {
  return _mm256_add_ps(a, b);
}
#else
using V = __m128;
constexpr int64_t kWidth = 4, kMr = 4;
inline V zero() {
  return _mm_setzero_ps();
}
inline V load(const float* p) {
  return _mm_loadu_ps(p);
}
inline void store(float* p, V v) {
  _mm_storeu_ps(p, v);
}
inline V broadcast(const float* p) {
  return _mm_set1_ps(*p);
}
// No FMA below AVX2: a product rounded, then the sum, the same two steps in every tile.
inline V mul_add(V a, V b, V acc) {
  return _mm_add_ps(_mm_mul_ps(a, b), acc);
}
inline V add(V a, V b) {
  return _mm_add_ps(a, b);
}
#endif
constexpr int64_t kNr = 2 * kWidth;

void pack(const float* w, int64_t n, int64_t k, int64_t stride_n, int64_t stride_k, float* packed) {
  const int64_t panels = (n + kNr - 1) / kNr;
  for (int64_t p = 0; p < panels; ++p) {
    float* dst = packed + p * k * kNr;
    const int64_t cols = std::min(kNr, n - p * kNr);
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = 0; j < cols; ++j)
        dst[i * kNr + j] = w[(p * kNr + j) * stride_n + i * stride_k];
      for (int64_t j = cols; j < kNr; ++j) dst[i * kNr + j] = 0.0f;
    }
  }
}

// Where a tile's sums go after one block of k: on to the next block (`partial`, R rows of nr
// floats, read back as the next block's starting values), or, after the last, into `out`.
struct TileOut {
  const float* start;  // the sums so far (R × nr), or null: start from zero
  float* partial;      // not the last block of k: store the sums here (R × nr)
  float* out;          // the last block: out (+)= the sums, `cols` of nr columns real
  int64_t ldo, cols;
  bool accumulate;
};

// R rows of a against one panel for one block of k. A sum stored to `partial` and loaded back is
// the same float, so blocking k changes no bit: each element is still one multiply-add chain over
// k = 0 … K−1.
template <int64_t R>
inline void tile(const float* a, int64_t lda, const float* panel, int64_t kc, const TileOut& to) {
  V acc0[R], acc1[R];
  // Every loop over r is unrolled so that the accumulators stay in registers (an array GCC
  // indexes at run time lives on the stack, and the k loop then stores it each step).
#pragma GCC unroll 16
  for (int64_t r = 0; r < R; ++r) {
    acc0[r] = to.start ? load(to.start + r * kNr) : zero();
    acc1[r] = to.start ? load(to.start + r * kNr + kWidth) : zero();
  }
#pragma GCC unroll 4
  for (int64_t i = 0; i < kc; ++i) {
    const V b0 = load(panel + i * kNr);
    const V b1 = load(panel + i * kNr + kWidth);
#pragma GCC unroll 16
    for (int64_t r = 0; r < R; ++r) {
      const V x = broadcast(a + r * lda + i);
      acc0[r] = mul_add(x, b0, acc0[r]);
      acc1[r] = mul_add(x, b1, acc1[r]);
    }
  }
  if (to.partial) {
#pragma GCC unroll 16
    for (int64_t r = 0; r < R; ++r) {
      store(to.partial + r * kNr, acc0[r]);
      store(to.partial + r * kNr + kWidth, acc1[r]);
    }
    return;
  }
  if (to.cols == kNr) {
#pragma GCC unroll 16
    for (int64_t r = 0; r < R; ++r) {
      float* o = to.out + r * to.ldo;
      store(o, to.accumulate ? add(load(o), acc0[r]) : acc0[r]);
      store(o + kWidth, to.accumulate ? add(load(o + kWidth), acc1[r]) : acc1[r]);
    }
    return;
  }
  // A last, narrower panel: through a buffer, with the same one addition per element.
  alignas(64) float buf[kNr];
#pragma GCC unroll 16
  for (int64_t r = 0; r < R; ++r) {
    float* o = to.out + r * to.ldo;
    if (to.accumulate) {
      std::memcpy(buf, o, static_cast<size_t>(to.cols) * sizeof(float));
      std::memset(buf + to.cols, 0, static_cast<size_t>(kNr - to.cols) * sizeof(float));
      store(buf, add(load(buf), acc0[r]));
      store(buf + kWidth, add(load(buf + kWidth), acc1[r]));
    } else {
      store(buf, acc0[r]);
      store(buf + kWidth, acc1[r]);
    }
    std::memcpy(o, buf, static_cast<size_t>(to.cols) * sizeof(float));
  }
}

template <int64_t R>
inline void rest(const float* a, int64_t lda, const float* panel, int64_t kc, const TileOut& to,
                 int64_t rows) {
  if constexpr (R > 0) {
    if (rows == R) return tile<R>(a, lda, panel, kc, to);
    rest<R - 1>(a, lda, panel, kc, to, rows);
  }
}

// k in blocks of kKc: a block of a panel (kKc × nr floats, 24 KiB at every level: half of a
// 48 KiB L1, the rest for the rows of a) stays in L1 while every row tile passes over it; the
// tiles' sums wait in `partial` between blocks.
constexpr int64_t kKc = 24576 / (kNr * static_cast<int64_t>(sizeof(float)));

void run(const float* a, int64_t lda, int64_t m, const float* packed, int64_t n, int64_t k,
         int64_t p0, int64_t p1, float* out, int64_t ldo, bool accumulate) {
  thread_local std::vector<float> partial_sums;
  if (k > kKc && partial_sums.size() < static_cast<size_t>(m * kNr))
    partial_sums.resize(static_cast<size_t>(m * kNr));
  float* partial = partial_sums.data();
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = packed + p * k * kNr;
    const int64_t cols = std::min(kNr, n - p * kNr);
    float* o = out + (p - p0) * kNr;
    for (int64_t k0 = 0; k0 < k; k0 += kKc) {
      const int64_t kc = std::min(kKc, k - k0);
      const bool first = k0 == 0, last = k0 + kc == k;
      for (int64_t r = 0; r < m; r += kMr) {
        const TileOut to{first ? nullptr : partial + r * kNr,
                         last ? nullptr : partial + r * kNr,
                         o + r * ldo,
                         ldo,
                         cols,
                         accumulate};
        const float* ar = a + r * lda + k0;
        if (r + kMr <= m)
          tile<kMr>(ar, lda, panel + k0 * kNr, kc, to);
        else
          rest<kMr - 1>(ar, lda, panel + k0 * kNr, kc, to, m - r);
      }
    }
  }
}

}  // namespace

extern const Kernels kTable = {EMBEDFLOW_CPU_TARGET_NAME, kMr, kNr, kKc, pack, run};

}  // namespace embedflow::models::transformer::fixed_gemm::EMBEDFLOW_CPU_TARGET
