// A Linear's weights packed once for oneDNN's matmul primitive, in the blocked layout its
// kernels read: f32 · f32 → f32 (fp32, and bf16 where emulated), bf16 · bf16 → f32 (bf16 on AMX
// or AVX512-BF16) or u8 · s8 → s32 (int8 on AMX). On AMX the last two run 2-4x the fp32 encoder,
// bf16 on AVX512-BF16's vdpbf16ps (AMD Zen 4 and 5, Intel Cooper Lake) ~1.65x (bench/peers);
// without AMX int8 keeps dnnl_gemm_u8s8s32 (linear.h), as fast there.
//
// f32 is here for batch invariance, not speed: oneDNN's sgemm picks its kernels, K blocking and
// K-split threading from the row count and the threads, so the same text embedded in another
// batch got other last bits. The packed matmul's brgemm kernels (AVX-512) sum every row of every
// row count the same way, at any thread count (checked for rows 1..600 and 1..64 threads), and
// measured as fast as sgemm or faster (2x at a dozen rows). Below AVX-512 oneDNN's f32 matmul
// is that sgemm, so f32_invariant_here() says no and linear.h keeps dnnl_sgemm. Only with
// libdnnl-dev. Torch-free.
#pragma once

#include <cstdint>
#include <memory>

#include "models/transformer/kernels.h"

namespace embedflow::models::transformer {

class PackedMatmul {
 public:
  enum class Type { F32, Bf16, U8S8 };
  // What the primitive does to each result while it is in registers (F32, Bf16), instead of a
  // pass of its own over the output afterwards: out = activation(a · Wᵀ + bias + out's values
  // before). The FFN's bias + activation and a pre-LN block's residual bias were each such a
  // pass (6% of the CLIP image tower).
  struct Epilogue {
    bool accumulate = false;  // add out's values before (the residual)
    bool bias = false;        // add the bias given at construction
    kernels::Activation activation = kernels::Activation::Identity;
  };
  // weight [n, k], row-major: floats (F32), bf16 bits (Bf16) or int8 (U8S8); bias [n] or null
  // (copied; F32 and Bf16 only).
  PackedMatmul(Type type, const void* weight, int64_t n, int64_t k, const float* bias = nullptr);
  ~PackedMatmul();
  PackedMatmul(const PackedMatmul&) = delete;
  PackedMatmul& operator=(const PackedMatmul&) = delete;

  // out [m, n] = a [m, k] · Wᵀ, plus out's values before when accumulate (F32, Bf16): a holds
  // floats, bf16 bits or u8 rows, out floats or int32. Thread-safe; inside a parallel region it
  // runs on the calling thread alone. Runs in blocks of a few fixed row counts, whose primitives
  // are created on first use and kept.
  void run(const void* a, int64_t m, void* out, bool accumulate) const;
  // The same with an epilogue (F32 and Bf16; its bias only when one was given).
  void run(const void* a, int64_t m, void* out, const Epilogue& epilogue) const;
  bool has_bias() const;
  // Whether this U8S8 or Bf16 matmul runs on AMX's tiles (oneDNN's ISA when it was made).
  bool on_amx() const;

  // Whether the U8S8 and Bf16 matmuls run on AMX here: the level in effect (embedflow/cpu.h)
  // is amx and oneDNN's own ISA, which ONEDNN_MAX_CPU_ISA may cap, includes AMX.
  static bool amx_here();
  // Whether the Bf16 matmul runs on bf16 instructions here, AMX's or AVX512-BF16's dot products
  // (vdpbf16ps): the level in effect is avx512bf16 or above and oneDNN's ISA has them. Below,
  // bf16 is emulated on the f32 matmul at fp32's speed.
  static bool bf16_here();
  // Whether oneDNN's u8·s8 products are summed straight into int32 (VNNI or AMX), so
  // activations may use all 8 bits.
  static bool u8_products_exact();
  // Whether the F32 matmul gives every row the same bits whatever the row count, the row's
  // place in the batch or the thread count: the level in effect is avx512 or above and oneDNN's
  // ISA includes avx512_core (its brgemm kernels).
  static bool f32_invariant_here();

  Type type() const;

 private:
  // One primitive call on m rows (m one of the fixed row counts).
  void execute(const void* a, int64_t m, void* out, const Epilogue& epilogue) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Caps oneDNN's instruction set at the level in effect (EMBEDFLOW_CPU), so that lowering the
// level also moves oneDNN's GEMMs onto that level's kernels. Takes effect only before oneDNN's
// first primitive in the process; later calls change nothing. Called when an encoder is built.
void cap_onednn_isa_at_active_level();

}  // namespace embedflow::models::transformer
