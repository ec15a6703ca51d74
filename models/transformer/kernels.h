// The element-wise and attention kernels of the transformer encoder (models/transformer/
// encoder.h), on raw float rows. They fuse what eager PyTorch runs as separate passes (bias +
// activation, bias + residual + LayerNorm, QKᵀ + softmax + ·V per head), so everything beside
// the GEMMs stays a small fraction of the time. Torch-free; compiled once per CPU level from
// kernels_impl.h (AVX-512, AVX2+FMA and baseline x86-64) and picked at run time (embedflow/cpu.h).
#pragma once

#include <cstdint>

#include "embedflow/cpu.h"

namespace embedflow::models::transformer::kernels {

// gelu (erf), gelu_new / gelu_pytorch_tanh, CLIP's quick_gelu x·σ(1.702x), relu, silu x·σ(x)
// (SwiGLU's gate), and none (a bias add alone: a pre-LN block's residual, accumulated in its
// GEMM, still needs its bias).
enum class Activation { GeluErf, GeluTanh, QuickGelu, Relu, Silu, Identity };

// What attention adds to the scaled scores of one head before the softmax: a bias read at
// bias[i·ld + j] for query i and key j (MPNet's relative positions: one Toeplitz row per head,
// walked with ld = −1), and/or a causal mask (key j > query i excluded, CLIP's text tower).
struct ScoreBias {
  const float* bias = nullptr;
  int64_t ld = 0;
  bool causal = false;
};

struct Kernels {
  const char* build;  // the level this table was compiled for (embedflow/cpu.h's names)
  // y[r, :] = act(y[r, :] + bias) for `rows` rows of width n (bias may be null).
  void (*bias_activation)(float* y, const float* bias, int64_t rows, int64_t n, Activation act);
  // A gated linear unit (SwiGLU with Silu): y has rows of 2n, a gate half then a value half, and
  // bias 2n values (or null); out[r, i] = act(gate + bias[i]) · (value + bias[n + i]), rows of
  // out ldo apart.
  void (*gated_activation)(const float* y, const float* bias, int64_t rows, int64_t n,
                           Activation act, float* out, int64_t ldo);
  // x[r, :] = LayerNorm(x[r, :] + y[r, :] + bias) · gamma + beta (y and bias may be null).
  void (*residual_layernorm)(float* x, const float* y, const float* bias, const float* gamma,
                             const float* beta, int64_t rows, int64_t n, float eps);
  // out[r, :] = LayerNorm(x[r, :]) · gamma + beta, x left as it is (a pre-LN block's input).
  void (*layernorm)(const float* x, float* out, const float* gamma, const float* beta, int64_t rows,
                    int64_t n, float eps);
  // One attention head of one sequence: `len` rows of q, k, v (row stride ld, head width d),
  // softmax((q + bq)(k + bk)ᵀ · scale + score bias)(v + bv) into `out` (row stride ldo); the
  // biases are the head's slices of the projection biases, or null. `scratch` holds
  // attention_scratch_floats(len, d) floats.
  void (*attention_head)(const float* q, const float* k, const float* v, const float* bq,
                         const float* bk, const float* bv, int64_t ld, int64_t len, int64_t d,
                         float scale, const ScoreBias& score_bias, float* out, int64_t ldo,
                         float* scratch);
  // Dynamic int8 for a u8·s8 GEMM: each row of x [rows, k] → q = round(x / scale) + zero in
  // [0, levels], its range (min and max, widened to include 0) over `levels` steps. levels is
  // 255 where the GEMM multiplies with VNNI or AMX (u8·s8 products summed straight into int32),
  // and 127 elsewhere: AVX2/AVX-512 without VNNI sum u8·s8 pairs into saturating int16, which
  // 2·127·127 still fits and 2·255·127 does not (activation_levels in linear.h decides).
  void (*quantize_rows_u8)(const float* x, int64_t rows, int64_t k, int32_t levels, uint8_t* q,
                           float* scale, int32_t* zero);
  // out[r, c] = row_scale[r] · (col_scale[c] · acc[r, c] − row_zero[r] · col_scaled_sum[c])
  // + bias[c], where col_scaled_sum[c] = col_scale[c] · Σ_k w[c, k] (bias may be null): the
  // int32 GEMM result back to float, the zero point taken out. Rows of acc and out are lda and
  // ldo apart, so a block of columns (one head's) can be taken.
  void (*dequantize_rows)(const int32_t* acc, int64_t lda, int64_t rows, int64_t n,
                          const float* row_scale, const int32_t* row_zero, const float* col_scale,
                          const float* col_scaled_sum, const float* bias, float* out, int64_t ldo);
  // x [n] rounded to bfloat16 (to nearest, ties to even; NaN stays NaN): its 16 bits into bits
  // (the matmul's bf16 input) and/or the value back as a float into rounded (bf16 emulated on
  // the fp32 GEMM); either may be null.
  void (*round_to_bf16)(const float* x, int64_t n, uint16_t* bits, float* rounded);
};

// Queries a register block of attention_head scores at once, at most (8 from AVX-512 up, 4 below).
constexpr int64_t kAttentionRowsMax = 8;
inline int64_t attention_scratch_floats(int64_t len, int64_t d) {
  // Kᵀ, a block's score rows, the row of bq · Kᵀ.
  return (d + kAttentionRowsMax + 1) * ((len + 7) / 8 * 8);
}

// The build for `level` (by default the level in effect: the highest build the CPU runs, unless
// EMBEDFLOW_CPU lowers it).
const Kernels& table(cpu::Level level = cpu::active_level());

}  // namespace embedflow::models::transformer::kernels
