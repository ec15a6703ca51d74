// Bodies of the transformer kernels (kernels.h), compiled once per CPU level by
// embedflow_cpu_kernels (models/text.cmake) into that level's namespace, with internal linkage but
// for the table. Written as plain loops the compiler vectorises (`omp simd`); exp and erf are
// branch-free polynomial approximations so those loops vectorise too.
#ifndef EMBEDFLOW_CPU_TARGET
#error "compiled only through embedflow_cpu_kernels (cmake/CpuKernels.cmake)"
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "models/transformer/kernels.h"

namespace embedflow::models::transformer::kernels::EMBEDFLOW_CPU_TARGET {

namespace {

// exp(x) by range reduction x = n·ln2 + r (Cody–Waite split of ln2) and a degree-6 polynomial
// for e^r on |r| ≤ ln2/2: relative error ~1e-7, the same order as float rounding.
inline float exp_approx(float x) {
  // Ternaries, not fmin/fmax (libm calls unless -ffinite-math-only), and rounding by the 1.5·2²³
  // trick, not floor (a libm call without SSE4.1): the loops calling this must vectorise.
  // Written as a max then a min, the forms that map onto single vector instructions.
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
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

// GELU(x) = x · Φ(x), with erf by Abramowitz & Stegun 7.1.28: for u ≥ 0,
// erf(u) = 1 − (1 + a₁u + … + a₆u⁶)^−16, absolute error ≤ 3e-7 (GELU within 1e-6 of the exact
// erf form, 2 ulp where it is largest). No exp: a polynomial, one division and four squarings,
// about half the instructions of the exp-based 7.1.26, and this pass is compute-bound.
inline float gelu_erf(float x) {
  const float u = std::fabs(x) * 0.70710678118654752f;
  float p = 0.0000430638f;
  p = p * u + 0.0002765672f;
  p = p * u + 0.0001520143f;
  p = p * u + 0.0092705272f;
  p = p * u + 0.0422820123f;
  p = p * u + 0.0705230784f;
  p = p * u + 1.0f;
  float t = 1.0f / p;
  t = t * t;
  t = t * t;
  t = t * t;
  t = t * t;
  const float tail = 0.5f * t;  // Φ(−|x|) = (1 − erf(|x|/√2)) / 2
  return x * (x >= 0.0f ? 1.0f - tail : tail);
}

inline float tanh_approx(float u) {
  return 1.0f - 2.0f / (exp_approx(2.0f * u) + 1.0f);
}

inline float silu(float x) {
  return x / (1.0f + exp_approx(-x));
}

template <bool kBias>
void bias_activation_rows(float* y, const float* bias, int64_t rows, int64_t n, Activation act) {
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict row = y + r * n;
    switch (act) {
      case Activation::GeluErf:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const float x = kBias ? row[i] + bias[i] : row[i];
          row[i] = gelu_erf(x);
        }
        break;
      case Activation::GeluTanh:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const float x = kBias ? row[i] + bias[i] : row[i];
          row[i] =
              0.5f * x * (1.0f + tanh_approx(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        }
        break;
      case Activation::QuickGelu:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const float x = kBias ? row[i] + bias[i] : row[i];
          row[i] = x / (1.0f + exp_approx(-1.702f * x));
        }
        break;
      case Activation::Relu:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const float x = kBias ? row[i] + bias[i] : row[i];
          row[i] = x > 0.0f ? x : 0.0f;
        }
        break;
      case Activation::Silu:
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) row[i] = silu(kBias ? row[i] + bias[i] : row[i]);
        break;
      case Activation::Identity:
        if (kBias) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) row[i] += bias[i];
        }
        break;
    }
  }
}

// One pass per row: the bias is added as each value is read for the activation (the rows come
// straight from a GEMM, mostly not in cache). With and without a bias as two loops: a
// per-element test of the pointer keeps the compiler from vectorising.
void bias_activation(float* y, const float* bias, int64_t rows, int64_t n, Activation act) {
  if (bias)
    bias_activation_rows<true>(y, bias, rows, n, act);
  else
    bias_activation_rows<false>(y, bias, rows, n, act);
}

// The gate half activated in place in a row-sized buffer by bias_activation (every activation
// there, no second switch), then multiplied by the value half: the buffer is one row, in L1.
void gated_activation(const float* y, const float* bias, int64_t rows, int64_t n, Activation act,
                      float* out, int64_t ldo) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* gate = y + r * 2 * n;
    const float* __restrict value = gate + n;
    float* __restrict o = out + r * ldo;
    std::memcpy(o, gate, static_cast<size_t>(n) * sizeof(float));
    bias_activation(o, bias, 1, n, act);
    if (bias) {
      const float* __restrict vb = bias + n;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) o[i] *= value[i] + vb[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) o[i] *= value[i];
    }
  }
}

// out = LayerNorm(row) · gamma + beta; out may be row. Two passes (mean, then centred
// variance), as PyTorch's LayerNorm: no cancellation.
inline void normalize_row(const float* row, float* out, const float* gamma, const float* beta,
                          int64_t n, float eps) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += row[i];
  const float mean = sum / static_cast<float>(n);
  float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < n; ++i) sq += (row[i] - mean) * (row[i] - mean);
  const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(n) + eps);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = (row[i] - mean) * rstd * gamma[i] + beta[i];
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
    normalize_row(row, row, gamma, beta, n, eps);
  }
}

void layernorm(const float* x, float* out, const float* gamma, const float* beta, int64_t rows,
               int64_t n, float eps) {
  for (int64_t r = 0; r < rows; ++r) normalize_row(x + r * n, out + r * n, gamma, beta, n, eps);
}

// 8 floats in a register (GCC/Clang vector extension: AVX on the AVX2 build, two SSE halves on
// the baseline one), and the widest vector of the build: 16 floats (one zmm register) from
// AVX-512 up, where 8-float vectors left half of every FMA unused (the attention kernel ran at a
// quarter of the GEMM peak, 42% of DINOv2-S's int8 time), else 8. Loads and stores go through
// memcpy, so nothing needs to be aligned.
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));
#ifdef __AVX512F__
using vw = v16;
#else
using vw = v8;
#endif
template <class V>
constexpr int kLanes = static_cast<int>(sizeof(V) / sizeof(float));
// Accumulator registers a register block of the attention kernel keeps: enough independent FMA
// chains to hide the FMA latency, few enough to leave registers for the loads. 16 of the 32 zmm
// registers from AVX-512 up (with 8, as below, each query block re-read Kᵀ from L2 twice as
// often: DINOv2-S's Kᵀ of one head is 67 KB), 8 of the 16 registers below.
constexpr int kAccumulators = kLanes<vw> == 16 ? 16 : 8;
template <class V>
inline V load_v(const float* p) {
  V r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
template <class V>
inline void store_v(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

// Scores of R query rows against KB·lanes keys:
// s[r][jb + 0:KB·lanes] = scale · (sb[…] + Σ_c q[r][c] · kt[c][…]).
// R·KB accumulators (kAccumulators at most) stay in registers. Each lane is one key, summed over
// c in order: the scores are the same bits at any vector width and any R.
template <class V, int R, int KB>
inline void score_block(const float* const* qr, const float* kt, const float* sb, int64_t lp,
                        int64_t jb, int64_t d, float scale, float* s) {
  constexpr int W = kLanes<V>;
  V acc[R][KB];
  for (int t = 0; t < KB; ++t) acc[0][t] = load_v<V>(sb + jb + W * t);
  for (int r = 1; r < R; ++r)
    for (int t = 0; t < KB; ++t) acc[r][t] = acc[0][t];
  for (int64_t c = 0; c < d; ++c) {
    V kv[KB];
    for (int t = 0; t < KB; ++t) kv[t] = load_v<V>(kt + c * lp + jb + W * t);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < KB; ++t) acc[r][t] += qr[r][c] * kv[t];
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < KB; ++t) store_v<V>(s + r * lp + jb + W * t, acc[r][t] * scale);
}

// o_r[0:ND·lanes] = bias + Σ_j p_r[j] · v[j·ld + 0:ND·lanes] for R rows of probabilities at
// once (one load of v serves R rows), the R·ND accumulators held in registers all along and o
// only written, never read (its lines are usually not in cache yet). Each lane is one output
// column, summed over j in order: the same bits at any vector width and any R.
template <class V, int R, int ND>
inline void weighted_rows(const float* const* p, const float* v, const float* bias, int64_t ld,
                          int64_t len, float* const* o) {
  constexpr int W = kLanes<V>;
  V acc[R][ND];
  for (int t = 0; t < ND; ++t) acc[0][t] = bias ? load_v<V>(bias + W * t) : V{};
  for (int r = 1; r < R; ++r)
    for (int t = 0; t < ND; ++t) acc[r][t] = acc[0][t];
  for (int64_t j = 0; j < len; ++j) {
    V vj[ND];
    for (int t = 0; t < ND; ++t) vj[t] = load_v<V>(v + j * ld + W * t);
    for (int r = 0; r < R; ++r) {
      const float pj = p[r][j];
      for (int t = 0; t < ND; ++t) acc[r][t] += pj * vj[t];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < ND; ++t) store_v<V>(o[r] + W * t, acc[r][t]);
}

// The context rows of a block of `rows` queries (R when whole, a multiple of kAccumulators / ND)
// for a head ND of the widest vectors wide: kAccumulators accumulators per call, kAccumulators /
// ND rows sharing each load of v.
template <int R, int ND>
inline void weighted_groups(const float* const* pr, const float* v, const float* bias, int64_t ld,
                            int64_t len, int64_t rows, float* const* o) {
  constexpr int G = kAccumulators / ND;
  static_assert(G >= 1 && R % G == 0, "a block of queries is whole groups");
  if (rows == R) {
    for (int r = 0; r < R; r += G) weighted_rows<vw, G, ND>(pr + r, v, bias, ld, len, o + r);
  } else {
    for (int64_t r = 0; r < rows; ++r) weighted_rows<vw, 1, ND>(pr + r, v, bias, ld, len, o + r);
  }
}

// weighted_groups for head widths of 2, 4 or 8 of the widest vectors (32, 64 and 128 from
// AVX-512 up; 16, 32 and 64 below); false for other widths.
template <int R>
inline bool weighted_block(const float* const* pr, const float* v, const float* bias, int64_t ld,
                           int64_t len, int64_t d, int64_t rows, float* const* o) {
  constexpr int W = kLanes<vw>;
  if (d == 2 * W) weighted_groups<R, 2>(pr, v, bias, ld, len, rows, o);
  if (d == 4 * W) weighted_groups<R, 4>(pr, v, bias, ld, len, rows, o);
  if (d == 8 * W) weighted_groups<R, 8>(pr, v, bias, ld, len, rows, o);
  return d == 2 * W || d == 4 * W || d == 8 * W;
}

void attention_head(const float* q, const float* k, const float* v, const float* bq,
                    const float* bk, const float* bv, int64_t ld, int64_t len, int64_t d,
                    float scale, const ScoreBias& score_bias, float* out, int64_t ldo,
                    float* scratch) {
  // Kᵀ first ([d × lp], keys padded to a multiple of 8 with zeros): then the scores of a query
  // are a sum of d scaled Kᵀ rows, vector FMAs across keys, with no horizontal reduction per
  // (query, key) pair. kRows queries (8 from AVX-512 up, 4 below) share each Kᵀ load; their
  // accumulators stay in registers.
  // The projections' biases cost no pass over q, k or v: bk goes into Kᵀ as it is built, bq
  // into one row of scores bq·Kᵀ that every query's scores start from, and bv into the output
  // (the weights sum to 1).
  constexpr int64_t kRows = kAccumulators / 2;
  static_assert(kRows <= kAttentionRowsMax, "attention_scratch_floats holds kRows score rows");
  const int64_t lp = (len + 7) / 8 * 8;
  float* __restrict kt = scratch;
  float* __restrict s = scratch + d * lp;  // kRows rows of lp scores
  float* __restrict sb = s + kRows * lp;   // bq · Kᵀ
  for (int64_t c = 0; c < d; ++c) {
    float* __restrict row = kt + c * lp;
    const float b = bk ? bk[c] : 0.0f;
    for (int64_t j = 0; j < len; ++j) row[j] = k[j * ld + c] + b;
    for (int64_t j = len; j < lp; ++j) row[j] = 0.0f;
  }
  // Padded keys start from a score so low that exp() takes them to (almost exactly) zero:
  // the softmax then runs over whole vectors of lp keys, with no scalar remainder.
  for (int64_t j = 0; j < lp; ++j) sb[j] = j < len ? 0.0f : -1e30f;
  if (bq)
    for (int64_t c = 0; c < d; ++c) {
      const float* __restrict row = kt + c * lp;
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) sb[j] += bq[c] * row[j];
    }
  for (int64_t i0 = 0; i0 < len; i0 += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, len - i0);
    // A partial block repeats its last row: the extra scores are computed and ignored, and
    // the extra outputs point at the last real row and are not written.
    const float* qr[kRows];
    float* o[kRows];
    const float* pr[kRows];
    for (int64_t r = 0; r < kRows; ++r) {
      qr[r] = q + (i0 + std::min(r, rows - 1)) * ld;
      o[r] = out + (i0 + std::min(r, rows - 1)) * ldo;
      pr[r] = s + r * lp;
    }
    // Keys in blocks of two widest vectors, then one, then (from AVX-512 up) 8 (lp is a
    // multiple of 8).
    constexpr int64_t W = kLanes<vw>;
    int64_t jb = 0;
    for (; jb + 2 * W <= lp; jb += 2 * W)
      score_block<vw, kRows, 2>(qr, kt, sb, lp, jb, d, scale, s);
    for (; jb + W <= lp; jb += W) score_block<vw, kRows, 1>(qr, kt, sb, lp, jb, d, scale, s);
    if (jb < lp) score_block<v8, kRows, 1>(qr, kt, sb, lp, jb, d, scale, s);

    for (int64_t r = 0; r < rows; ++r) {
      float* __restrict sr = s + r * lp;
      const int64_t i = i0 + r;
      if (score_bias.bias) {
        const float* __restrict b = score_bias.bias + i * score_bias.ld;
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) sr[j] += b[j];
      }
      // Keys after the query take the padded keys' score: exp() sends them to zero.
      if (score_bias.causal)
        for (int64_t j = i + 1; j < len; ++j) sr[j] = -1e30f;
      float m = sr[0];
#pragma omp simd reduction(max : m)
      for (int64_t j = 1; j < lp; ++j) m = sr[j] > m ? sr[j] : m;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < lp; ++j) {
        sr[j] = exp_approx(sr[j] - m);
        sum += sr[j];
      }
      const float inv = 1.0f / sum;
#pragma omp simd
      for (int64_t j = 0; j < lp; ++j) sr[j] *= inv;
    }
    if (!weighted_block<kRows>(pr, v, bv, ld, len, d, rows, o)) {
      for (int64_t r = 0; r < rows; ++r) {
        float* __restrict orow = o[r];
#pragma omp simd
        for (int64_t c = 0; c < d; ++c) orow[c] = bv ? bv[c] : 0.0f;
        for (int64_t j = 0; j < len; ++j) {
          const float* __restrict vj = v + j * ld;
          const float pj = pr[r][j];
#pragma omp simd
          for (int64_t c = 0; c < d; ++c) orow[c] += pj * vj[c];
        }
      }
    }
  }
}

void quantize_rows_u8(const float* x, int64_t rows, int64_t k, int32_t levels, uint8_t* q,
                      float* scale, int32_t* zero) {
  const float top = static_cast<float>(levels);
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict xr = x + r * k;
    uint8_t* __restrict qr = q + r * k;
    float lo = 0.0f, hi = 0.0f;
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (int64_t i = 0; i < k; ++i) {
      lo = xr[i] < lo ? xr[i] : lo;
      hi = xr[i] > hi ? xr[i] : hi;
    }
    const float s = hi > lo ? (hi - lo) / top : 1.0f;
    const float inv = 1.0f / s;
    // Round to nearest (even) by the 1.5·2²³ trick, no libm call in the loop.
    const float z = ((-lo * inv) + 12582912.0f) - 12582912.0f;
    int64_t i = 0;
#ifdef __AVX2__
    // 32 values a step: round to int32, pack with unsigned saturation to 16 then 8 bits (the
    // packs interleave 128-bit lanes; one permute puts them back), cap at `levels`.
    const __m256 vinv = _mm256_set1_ps(inv), vz = _mm256_set1_ps(z);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
                  cap = _mm256_set1_epi8(static_cast<char>(levels));
    auto round4 = [&](int64_t j) {
      return _mm256_cvtps_epi32(_mm256_fmadd_ps(_mm256_loadu_ps(xr + j), vinv, vz));
    };
    for (; i + 32 <= k; i += 32) {
      const __m256i lo16 = _mm256_packus_epi32(round4(i), round4(i + 8));
      const __m256i hi16 = _mm256_packus_epi32(round4(i + 16), round4(i + 24));
      const __m256i u8 = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(lo16, hi16), order);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qr + i), _mm256_min_epu8(u8, cap));
    }
#endif
#pragma omp simd
    for (int64_t j = i; j < k; ++j) {
      float v = ((xr[j] * inv + z) + 12582912.0f) - 12582912.0f;
      v = v > 0.0f ? v : 0.0f;
      v = v < top ? v : top;
      qr[j] = static_cast<uint8_t>(static_cast<int32_t>(v));
    }
    scale[r] = s;
    zero[r] = static_cast<int32_t>(z);
  }
}

void dequantize_rows(const int32_t* acc, int64_t lda, int64_t rows, int64_t n,
                     const float* row_scale, const int32_t* row_zero, const float* col_scale,
                     const float* col_scaled_sum, const float* bias, float* out, int64_t ldo) {
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* __restrict a = acc + r * lda;
    float* __restrict o = out + r * ldo;
    const float rs = row_scale[r];
    const float rz = static_cast<float>(row_zero[r]);
    // All in float (no int32 multiply, slow on AVX2): rs · (cs·a − rz · cs·Σw) + b.
    if (bias) {
#pragma omp simd
      for (int64_t c = 0; c < n; ++c)
        o[c] = rs * (col_scale[c] * static_cast<float>(a[c]) - rz * col_scaled_sum[c]) + bias[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < n; ++c)
        o[c] = rs * (col_scale[c] * static_cast<float>(a[c]) - rz * col_scaled_sum[c]);
    }
  }
}

void round_to_bf16(const float* x, int64_t n, uint16_t* bits, float* rounded) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    // Adding 0x7FFF plus the lowest kept bit rounds to nearest with ties to even; a NaN keeps
    // its sign and exponent and gets the quiet bit, so rounding cannot turn it into infinity.
    const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    const uint32_t r = nan ? ((u >> 16) | 0x40u) : ((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    if (bits) bits[i] = static_cast<uint16_t>(r);
    if (rounded) {
      const uint32_t back = r << 16;
      std::memcpy(rounded + i, &back, sizeof back);
    }
  }
}

}  // namespace

extern const Kernels kTable = {EMBEDFLOW_CPU_TARGET_NAME, bias_activation, gated_activation,
                               residual_layernorm,        layernorm,       attention_head,
                               quantize_rows_u8,          dequantize_rows, round_to_bf16};

}  // namespace embedflow::models::transformer::kernels::EMBEDFLOW_CPU_TARGET
