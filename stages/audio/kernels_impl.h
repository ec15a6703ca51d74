// Bodies of the audio kernels (kernels.h), compiled once per CPU level by embedflow_cpu_kernels
// (cmake/CpuKernels.cmake) with that level's instruction-set flags, inside the namespace the
// level names. Where the auto-vectoriser cannot be relied on (transposes, reductions, the log
// polynomial with a running max) they use the 8-float vectors of simd.h, one AVX register or two
// SSE ones. Everything here has internal linkage or is always inlined, so no function compiled
// for one level can stand in for another's at link time.
#ifndef EMBEDFLOW_CPU_TARGET
#error "compiled only through embedflow_cpu_kernels (cmake/CpuKernels.cmake)"
#endif

#include <cmath>
#include <cstring>
#include <limits>

#include "stages/audio/kernels.h"
#include "stages/audio/log8.h"
#include "stages/audio/simd.h"
#include "stages/audio/stft.h"

namespace embedflow::audio::kernels::EMBEDFLOW_CPU_TARGET {

namespace {

using simd::f32x8;
using simd::load8;
using simd::store8;

static_assert(Stft::kBlockFrames == 8, "the block transpose works on 8x8 tiles");

void window_pair(const float* __restrict a, const float* __restrict b, const float* __restrict w,
                 float* __restrict z, int n) {
  for (int i = 0; i < n; ++i) {
    z[2 * i] = a[i] * w[i];
    z[2 * i + 1] = b[i] * w[i];
  }
}

// With r = Z[(n-k) mod n], s = Z + r and d = Z - r, |X_a|^2 = (Re s^2 + Im d^2) / 4 and
// |X_b|^2 = (Im s^2 + Re d^2) / 4 (the 1/4 is folded into the window, halved for pairs).
// Written interleaved, s*s + swap(d*d) needs no shuffle between real and imaginary parts.
void pair_power(const float* __restrict z, int n, float* __restrict u, float* energy_a,
                float* energy_b) {
  const int nb = n / 2 + 1;
  // Z[(n-k) mod n] for k = 0..3, whose first entry wraps around (used when nb >= 4).
  float head[8] = {z[0], z[1]};
  for (int k = 1; k < 4 && nb >= 4; ++k) {
    head[2 * k] = z[2 * (n - k)];
    head[2 * k + 1] = z[2 * (n - k) + 1];
  }
  f32x8 sum = simd::splat8(0.0f);
  int k = 0;
  for (; k + 4 <= nb; k += 4) {
    const f32x8 a = load8(z + 2 * k);
    f32x8 r;
    if (k == 0) {
      r = load8(head);
    } else {  // Z[n-k-3 .. n-k], reversed complex by complex
      const f32x8 v = load8(z + 2 * (n - k - 3));
      r = EMBEDFLOW_SHUFFLE8(v, v, 6, 7, 4, 5, 2, 3, 0, 1);
    }
    const f32x8 sq = (a + r) * (a + r), d = a - r, dq = d * d;
    const f32x8 v = sq + EMBEDFLOW_SHUFFLE8(dq, dq, 1, 0, 3, 2, 5, 4, 7, 6);
    store8(u + 2 * k, v);
    sum += v;
  }
  float ea = (sum[0] + sum[2]) + (sum[4] + sum[6]), eb = (sum[1] + sum[3]) + (sum[5] + sum[7]);
  for (; k < nb; ++k) {
    const int rk = k == 0 ? 0 : n - k;
    const float ar = z[2 * k], ai = z[2 * k + 1], rr = z[2 * rk], ri = z[2 * rk + 1];
    const float sr = ar + rr, dr = ar - rr, si = ai + ri, di = ai - ri;
    u[2 * k] = sr * sr + di * di;
    u[2 * k + 1] = si * si + dr * dr;
    ea += u[2 * k];
    eb += u[2 * k + 1];
  }
  *energy_a = ea;
  *energy_b = eb;
}

void squared_magnitude(const float* __restrict z, int nb, float* __restrict p) {
  for (int k = 0; k < nb; ++k) p[2 * k] = z[2 * k] * z[2 * k] + z[2 * k + 1] * z[2 * k + 1];
}

void finish_power(float* __restrict p, int nb, double power, float scale) {
  if (power == 2.0) {
    if (scale != 1.0f)
      for (int k = 0; k < nb; ++k) p[k] *= scale;
  } else if (power == 1.0) {
    for (int k = 0; k < nb; ++k) p[k] = std::sqrt(p[k]) * scale;
  } else {
    for (int k = 0; k < nb; ++k)
      p[k] = static_cast<float>(std::pow(std::sqrt(p[k]), power)) * scale;
  }
}

// A 4x4 transpose of (|X_a|^2, |X_b|^2) pairs per 4 bins.
void transpose_block(const float* __restrict u, int ldp, float* __restrict block) {
  const size_t row = 2 * static_cast<size_t>(ldp);
  for (int k = 0; k < ldp; k += 4) {
    const f32x8 r0 = load8(u + 2 * k), r1 = load8(u + row + 2 * k);
    const f32x8 r2 = load8(u + 2 * row + 2 * k), r3 = load8(u + 3 * row + 2 * k);
    const f32x8 t0 = EMBEDFLOW_SHUFFLE8(r0, r1, 0, 1, 8, 9, 4, 5, 12, 13);
    const f32x8 t1 = EMBEDFLOW_SHUFFLE8(r0, r1, 2, 3, 10, 11, 6, 7, 14, 15);
    const f32x8 t2 = EMBEDFLOW_SHUFFLE8(r2, r3, 0, 1, 8, 9, 4, 5, 12, 13);
    const f32x8 t3 = EMBEDFLOW_SHUFFLE8(r2, r3, 2, 3, 10, 11, 6, 7, 14, 15);
    float* out = block + static_cast<size_t>(k) * 8;
    store8(out, EMBEDFLOW_SHUFFLE8(t0, t2, 0, 1, 2, 3, 8, 9, 10, 11));
    store8(out + 8, EMBEDFLOW_SHUFFLE8(t1, t3, 0, 1, 2, 3, 8, 9, 10, 11));
    store8(out + 16, EMBEDFLOW_SHUFFLE8(t0, t2, 4, 5, 6, 7, 12, 13, 14, 15));
    store8(out + 24, EMBEDFLOW_SHUFFLE8(t1, t3, 4, 5, 6, 7, 12, 13, 14, 15));
  }
}

using TileOutput = SparseFilterbank::TileOutput;

template <int kKind>
EMBEDFLOW_KERNEL_INLINE float filterbank_tile_to(const FilterbankView& fb,
                                                 const float* __restrict in, const TileOutput& how,
                                                 int count, float* __restrict out,
                                                 int64_t out_stride) {
  const f32x8 zero = simd::splat8(0.0f);
  const DbConstants db(how.multiplier, how.amin, how.ref_db);
  const f32x8 amin = simd::splat8(how.amin);
  const float offset = how.offset;
  f32x8 peak = simd::splat8(-std::numeric_limits<float>::infinity());
  // Each filter's sum is converted and stored as soon as it is complete.
  auto emit = [&](int m, f32x8 v) {
    if constexpr (kKind == TileOutput::Db) {
      v = db8(v, db, amin);
      peak = simd::max8(v, peak);
    } else if constexpr (kKind == TileOutput::Log) {
      v = log_positive8(v + offset);
    }
    float* row = out + m * out_stride;
    if (count == 8) {
      simd::store8(row, v);
      // The rows are many write streams, more than the hardware prefetcher follows: ask for
      // each row's line four tiles ahead, for writing.
      __builtin_prefetch(row + 32, 1, 3);
    } else {
      std::memcpy(row, &v, sizeof(float) * count);
    }
  };
  if (fb.two_per_bin) {
    f32x8 lo = zero, hi = zero;  // the running sums of filters m and m + 1
    const float* w = fb.bin_weights;
    for (int m = 0; m < fb.n_filters; ++m) {
      for (int b = fb.bin_start[m]; b < fb.bin_start[m + 1]; ++b) {
        const f32x8 row = simd::load8(in + static_cast<size_t>(b) * 8);
        lo += w[2 * b] * row;
        hi += w[2 * b + 1] * row;
      }
      emit(m, lo);
      lo = hi;
      hi = zero;
    }
  } else {
    for (int m = 0; m < fb.n_filters; ++m) {
      const float* w = fb.weights + fb.offset[m];
      const float* src = in + static_cast<size_t>(fb.first[m]) * 8;
      f32x8 acc = zero;
      for (int j = 0; j < fb.count[m]; ++j)
        acc += w[j] * simd::load8(src + static_cast<size_t>(j) * 8);
      emit(m, acc);
    }
  }
  return simd::hmax8(peak);
}

float filterbank_tile(const FilterbankView& fb, const float* __restrict in, const TileOutput& how,
                      int count, float* __restrict out, int64_t out_stride) {
  switch (how.kind) {
    case TileOutput::Db:
      return filterbank_tile_to<TileOutput::Db>(fb, in, how, count, out, out_stride);
    case TileOutput::Log:
      return filterbank_tile_to<TileOutput::Log>(fb, in, how, count, out, out_stride);
    default:
      return filterbank_tile_to<TileOutput::Value>(fb, in, how, count, out, out_stride);
  }
}

float db_inplace(float* __restrict x, int64_t n, float multiplier, float amin, float ref_db) {
  const DbConstants c(multiplier, amin, ref_db);
  const f32x8 amin_v = simd::splat8(amin);
  f32x8 peak = simd::splat8(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const f32x8 y = db8(simd::load8(x + i), c, amin_v);
    simd::store8(x + i, y);
    peak = simd::max8(y, peak);
  }
  float m = simd::hmax8(peak);
  for (; i < n; ++i) {
    x[i] = c(x[i]);
    m = x[i] > m ? x[i] : m;
  }
  return m;
}

void log_inplace(float* __restrict x, int64_t n, float offset) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) simd::store8(x + i, log_positive8(simd::load8(x + i) + offset));
  for (; i < n; ++i) x[i] = log_positive(x[i] + offset);
}

void clamp_below(float* __restrict x, int64_t n, float floor) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > floor ? x[i] : floor;
}

}  // namespace

extern const Table kTable = {
    EMBEDFLOW_CPU_TARGET_NAME, window_pair,     pair_power, squared_magnitude, finish_power,
    transpose_block,           filterbank_tile, db_inplace, log_inplace,       clamp_below};

}  // namespace embedflow::audio::kernels::EMBEDFLOW_CPU_TARGET
