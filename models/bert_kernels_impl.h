// Bodies of the BERT kernels, included once per instruction set by bert_kernels_{avx2,generic}.cpp
// inside their own namespace. Written as plain loops the compiler vectorises (`omp simd`); exp
// and erf are branch-free polynomial approximations so those loops vectorise too.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "models/bert_kernels.h"

namespace {

using embedflow::models::bert_kernels::Activation;

// exp(x) by range reduction x = n·ln2 + r (Cody–Waite split of ln2) and a degree-6 polynomial
// for e^r on |r| ≤ ln2/2: relative error ~1e-7, the same order as float rounding.
inline float exp_approx(float x) {
  // Ternaries, not fmin/fmax (libm calls unless -ffinite-math-only), and rounding by the 1.5·2²³
  // trick, not floor (a libm call without SSE4.1): the loops calling this must vectorise.
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// erf(x), Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7 (PyTorch's own vectorised
// erf is of the same order).
inline float erf_approx(float x) {
  const float ax = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * exp_approx(-ax * ax);
  return std::copysign(y, x);
}

inline float tanh_approx(float u) {
  return 1.0f - 2.0f / (exp_approx(2.0f * u) + 1.0f);
}

void bias_activation(float* y, const float* bias, int64_t rows, int64_t n, Activation act) {
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict row = y + r * n;
    if (bias) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) row[i] += bias[i];
    }
    switch (act) {
      case Activation::GeluErf:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i)
          row[i] = 0.5f * row[i] * (1.0f + erf_approx(row[i] * 0.70710678118654752f));
        break;
      case Activation::GeluTanh:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const float x = row[i];
          row[i] =
              0.5f * x * (1.0f + tanh_approx(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        }
        break;
      case Activation::Relu:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) row[i] = row[i] > 0.0f ? row[i] : 0.0f;
        break;
    }
  }
}

void residual_layernorm(float* x, const float* y, const float* bias, const float* gamma,
                        const float* beta, int64_t rows, int64_t n, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict row = x + r * n;
    if (y) {
      const float* __restrict yr = y + r * n;
      if (bias) {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) row[i] += yr[i] + bias[i];
      } else {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) row[i] += yr[i];
      }
    } else if (bias) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) row[i] += bias[i];
    }
    // Two passes (mean, then centred variance), as PyTorch's LayerNorm: no cancellation.
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += row[i];
    const float mean = sum / static_cast<float>(n);
    float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (int64_t i = 0; i < n; ++i) sq += (row[i] - mean) * (row[i] - mean);
    const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(n) + eps);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] = (row[i] - mean) * rstd * gamma[i] + beta[i];
  }
}

// 8 floats in a register (GCC/Clang vector extension: AVX on the AVX2 build, two SSE halves on
// the baseline one). Loads and stores go through memcpy, so nothing needs to be aligned.
typedef float v8 __attribute__((vector_size(32)));
inline v8 load8(const float* p) {
  v8 r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
inline void store8(float* p, v8 v) {
  std::memcpy(p, &v, sizeof v);
}

// o[0:8·ND] = Σ_j p[j] · v[j·ld + 0:8·ND], the accumulators held in registers all along.
template <int ND>
inline void weighted_rows(const float* p, const float* v, int64_t ld, int64_t len, float* o) {
  v8 acc[ND] = {};
  for (int64_t j = 0; j < len; ++j) {
    const float pj = p[j];
    for (int t = 0; t < ND; ++t) acc[t] += pj * load8(v + j * ld + 8 * t);
  }
  for (int t = 0; t < ND; ++t) store8(o + 8 * t, acc[t]);
}

void attention_head(const float* q, const float* k, const float* v, const float* bq,
                    const float* bk, const float* bv, int64_t ld, int64_t len, int64_t d,
                    float scale, float* out, int64_t ldo, float* scratch) {
  // Kᵀ first ([d × lp], keys padded to a multiple of 8 with zeros): then the scores of a query
  // are a sum of d scaled Kᵀ rows, vector FMAs across keys, with no horizontal reduction per
  // (query, key) pair. Four queries share each Kᵀ load; their accumulators stay in registers.
  // The projections' biases are added here, not in a pass of their own over q, k and v: to q as
  // it is read, to Kᵀ as it is built, and to the output for v (the weights sum to 1).
  constexpr int64_t kRows = 4;
  const int64_t lp = (len + 7) / 8 * 8;
  float* __restrict kt = scratch;
  float* __restrict s = scratch + d * lp;  // kRows rows of lp scores
  float* __restrict qb = s + kRows * lp;   // kRows biased query rows
  for (int64_t c = 0; c < d; ++c) {
    float* __restrict row = kt + c * lp;
    const float b = bk ? bk[c] : 0.0f;
    for (int64_t j = 0; j < len; ++j) row[j] = k[j * ld + c] + b;
    for (int64_t j = len; j < lp; ++j) row[j] = 0.0f;
  }
  const v8 vscale = v8{} + scale;
  for (int64_t i0 = 0; i0 < len; i0 += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, len - i0);
    const float* qr[kRows];
    for (int64_t r = 0; r < kRows; ++r) {
      const float* src = q + (i0 + std::min(r, rows - 1)) * ld;
      float* dst = qb + r * d;
      for (int64_t c = 0; c < d; ++c) dst[c] = src[c] + (bq ? bq[c] : 0.0f);
      qr[r] = dst;
    }
    for (int64_t jb = 0; jb < lp; jb += 8) {
      v8 acc[kRows] = {};
      for (int64_t c = 0; c < d; ++c) {
        const v8 kv = load8(kt + c * lp + jb);
        for (int64_t r = 0; r < kRows; ++r) acc[r] += qr[r][c] * kv;
      }
      for (int64_t r = 0; r < kRows; ++r) store8(s + r * lp + jb, acc[r] * vscale);
    }
    for (int64_t r = 0; r < rows; ++r) {
      float* __restrict sr = s + r * lp;
      float m = sr[0];
      for (int64_t j = 1; j < len; ++j) m = sr[j] > m ? sr[j] : m;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < len; ++j) {
        sr[j] = exp_approx(sr[j] - m);
        sum += sr[j];
      }
      const float inv = 1.0f / sum;
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) sr[j] *= inv;
      float* o = out + (i0 + r) * ldo;
      if (d == 32) {
        weighted_rows<4>(sr, v, ld, len, o);
      } else if (d == 64) {
        weighted_rows<8>(sr, v, ld, len, o);
      } else {
#pragma omp simd
        for (int64_t c = 0; c < d; ++c) o[c] = 0.0f;
        for (int64_t j = 0; j < len; ++j) {
          const float* __restrict vj = v + j * ld;
          const float p = sr[j];
#pragma omp simd
          for (int64_t c = 0; c < d; ++c) o[c] += p * vj[c];
        }
      }
      if (bv) {
#pragma omp simd
        for (int64_t c = 0; c < d; ++c) o[c] += bv[c];
      }
    }
  }
}

void quantize_rows_u7(const float* x, int64_t rows, int64_t k, uint8_t* q, float* scale,
                      int32_t* zero) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict xr = x + r * k;
    uint8_t* __restrict qr = q + r * k;
    float lo = 0.0f, hi = 0.0f;
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (int64_t i = 0; i < k; ++i) {
      lo = xr[i] < lo ? xr[i] : lo;
      hi = xr[i] > hi ? xr[i] : hi;
    }
    const float s = hi > lo ? (hi - lo) / 127.0f : 1.0f;
    const float inv = 1.0f / s;
    // Round half away from zero by the 1.5·2²³ trick (no libm call in the loop).
    const float z = ((-lo * inv) + 12582912.0f) - 12582912.0f;
#pragma omp simd
    for (int64_t i = 0; i < k; ++i) {
      float v = ((xr[i] * inv + z) + 12582912.0f) - 12582912.0f;
      v = v < 0.0f ? 0.0f : (v > 127.0f ? 127.0f : v);
      qr[i] = static_cast<uint8_t>(static_cast<int32_t>(v));
    }
    scale[r] = s;
    zero[r] = static_cast<int32_t>(z);
  }
}

void dequantize_rows(const int32_t* acc, int64_t rows, int64_t n, const float* row_scale,
                     const int32_t* row_zero, const float* col_scale, const int32_t* col_sum,
                     const float* bias, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* __restrict a = acc + r * n;
    float* __restrict o = out + r * n;
    const float rs = row_scale[r];
    const int32_t rz = row_zero[r];
    if (bias) {
#pragma omp simd
      for (int64_t c = 0; c < n; ++c)
        o[c] = rs * col_scale[c] * static_cast<float>(a[c] - rz * col_sum[c]) + bias[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < n; ++c)
        o[c] = rs * col_scale[c] * static_cast<float>(a[c] - rz * col_sum[c]);
    }
  }
}

}  // namespace
