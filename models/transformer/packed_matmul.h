// A Linear's weights packed once for oneDNN's matmul primitive, in the blocked layout its AMX
// kernels read: bf16 · bf16 → f32 (precision bf16) or u8 · s8 → s32 (int8). On a CPU with AMX
// these run 2-4x the fp32 encoder (bench/peers); elsewhere the encoder keeps dnnl_sgemm and
// dnnl_gemm_u8s8s32 (linear.h), as fast or faster there. fp32 stays on dnnl_sgemm even with
// AVX-512: fp32 on packed weights measured within noise of it in the encoders (±3%). Only with
// libdnnl-dev. Torch-free.
#pragma once

#include <cstdint>
#include <memory>

namespace embedflow::models::transformer {

class PackedMatmul {
 public:
  enum class Type { Bf16, U8S8 };
  // weight [n, k], row-major: bf16 bits (Bf16) or int8 (U8S8).
  PackedMatmul(Type type, const void* weight, int64_t n, int64_t k);
  ~PackedMatmul();
  PackedMatmul(const PackedMatmul&) = delete;
  PackedMatmul& operator=(const PackedMatmul&) = delete;

  // out [m, n] = a [m, k] · Wᵀ, plus out's values before when accumulate (Bf16 only): a holds
  // bf16 bits or u8 rows, out floats or int32. Thread-safe; inside a parallel region it runs
  // on the calling thread alone. Runs in blocks of a few fixed row counts, whose primitives
  // are created on first use and kept.
  void run(const void* a, int64_t m, void* out, bool accumulate) const;

  // Whether the matmul runs on AMX here: the level in effect (embedflow/cpu.h) is amx and
  // oneDNN's own ISA, which ONEDNN_MAX_CPU_ISA may cap, includes AMX.
  static bool fast_here();
  // Whether oneDNN's u8·s8 products are summed straight into int32 (VNNI or AMX), so
  // activations may use all 8 bits.
  static bool u8_products_exact();

 private:
  // One primitive call on m rows (m one of the fixed row counts).
  void execute(const void* a, int64_t m, void* out, bool accumulate) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Caps oneDNN's instruction set at the level in effect (EMBEDFLOW_CPU), so that lowering the
// level also moves oneDNN's GEMMs onto that level's kernels. Takes effect only before oneDNN's
// first primitive in the process; later calls change nothing. Called when an encoder is built.
void cap_onednn_isa_at_active_level();

}  // namespace embedflow::models::transformer
