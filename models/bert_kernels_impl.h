// Bodies of the BERT kernels, included once per instruction set by bert_kernels_{avx2,generic}.cpp
// inside their own namespace. Written as plain loops the compiler vectorises (`omp simd`); exp
// and erf are branch-free polynomial approximations so those loops vectorise too.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "models/bert_kernels.h"

namespace {

using embedflow::models::bert_kernels::Activation;

// exp(x) by range reduction x = n·ln2 + r (Cody–Waite split of ln2) and a degree-6 polynomial
// for e^r on |r| ≤ ln2/2: relative error ~1e-7, the same order as float rounding.
inline float exp_approx(float x) {
  x = std::fmin(std::fmax(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
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
        for (int64_t i = 0; i < n; ++i) row[i] = std::fmax(row[i], 0.0f);
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

void attention_head(const float* q, const float* k, const float* v, int64_t ld, int64_t len,
                    int64_t d, float scale, float* out, int64_t ldo, float* scratch) {
  float* __restrict s = scratch;
  for (int64_t i = 0; i < len; ++i) {
    const float* __restrict qi = q + i * ld;
    float m = -INFINITY;
    for (int64_t j = 0; j < len; ++j) {
      const float* __restrict kj = k + j * ld;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t c = 0; c < d; ++c) dot += qi[c] * kj[c];
      s[j] = dot * scale;
      m = std::fmax(m, s[j]);
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < len; ++j) {
      s[j] = exp_approx(s[j] - m);
      sum += s[j];
    }
    const float inv = 1.0f / sum;
    float* __restrict o = out + i * ldo;
#pragma omp simd
    for (int64_t c = 0; c < d; ++c) o[c] = 0.0f;
    for (int64_t j = 0; j < len; ++j) {
      const float* __restrict vj = v + j * ld;
      const float p = s[j] * inv;
#pragma omp simd
      for (int64_t c = 0; c < d; ++c) o[c] += p * vj[c];
    }
  }
}

}  // namespace
