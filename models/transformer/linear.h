// A Linear layer as the transformer encoder runs it (encoder.cpp), the residual add accumulated
// inside the GEMM where it can be:
//   fp32  oneDNN's f32 matmul on weights packed once where its rows come out the same in any
//         batch (PackedMatmul::f32_invariant_here: AVX-512), else the fixed-order GEMM
//         (fixed_gemm.h: each output one multiply-add chain in k order), so that fp32 is
//         batch-invariant at every level;
//   int8  per-channel int8 weights, per-row u8 activations (8 bits where the products are summed
//         exactly, 7 elsewhere: activation_levels): oneDNN's u8·s8 matmul on AMX, its u8·s8 GEMM
//         elsewhere (libtorch's quantized Linear without libdnnl-dev);
//   bf16  weights and activations rounded to bf16, fp32 accumulation: oneDNN's bf16 matmul on
//         AMX; elsewhere the same roundings on the fp32 GEMM (bf16's numerics at fp32's speed,
//         since without AMX oneDNN's bf16 kernels measured slower than its sgemm).
// batch_invariant() tells whether a row's result is the same bits in every batch and at every
// thread count (#16): int8 always (exact integer sums), fp32 and bf16 always but for libtorch's
// int8 Linear (built without libdnnl-dev), which quantises a batch with one scale.
// Private to the models library: it includes torch.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/native/quantized/PackedParams.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef EMBEDFLOW_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

#include "models/transformer/packed_matmul.h"
#endif

#include "models/transformer/fixed_gemm.h"
#include "models/transformer/kernels.h"

namespace embedflow::models::transformer {

using LinearPacked = c10::intrusive_ptr<LinearPackedParamsBase>;

#ifdef EMBEDFLOW_HAVE_DNNL
inline void check_dnnl(dnnl_status_t st, const char* call) {
  if (st != dnnl_success)
    throw std::runtime_error(std::string(call) + " failed with status " + std::to_string(st));
}
#endif

// The top of the u8 activations' range for the u8·s8 GEMM here: 255 where oneDNN sums the
// products straight into int32 (VNNI, AMX), 127 where it sums pairs into saturating int16 first.
inline int32_t activation_levels() {
#ifdef EMBEDFLOW_HAVE_DNNL
  return PackedMatmul::u8_products_exact() ? 255 : 127;
#else
  return 127;  // libtorch's quantized Linear quantises its input itself
#endif
}

// Activations quantised for the u8·s8 GEMM: each row with its own scale and zero point
// (kernels::quantize_rows_u8), over `levels` steps.
struct QuantRows {
  torch::Tensor q;      // [rows, k] uint8
  torch::Tensor scale;  // [rows]
  torch::Tensor zero;   // [rows] int32
  int32_t levels;

  QuantRows(int64_t rows, int64_t k, int32_t levels)
      : q(torch::empty({rows, k}, torch::kByte)),
        scale(torch::empty({rows})),
        zero(torch::empty({rows}, torch::kInt)),
        levels(levels) {}
  int64_t width() const { return q.size(1); }
  // Quantises rows [r0, r1) of x, whose rows are width() floats (x points at row r0).
  void quantize(const kernels::Kernels& k, const float* x, int64_t r0, int64_t r1) {
    k.quantize_rows_u8(x, r1 - r0, width(), levels, q.data_ptr<uint8_t>() + r0 * width(),
                       scale.data_ptr<float>() + r0, zero.data_ptr<int32_t>() + r0);
  }
};

// y = x Wᵀ (+ b). fp32 keeps W and b and runs one GEMM (bias left to the fused kernel that
// follows); int8 keeps W as int8 rows with a scale each, for oneDNN's u8·s8 GEMM, whose int32
// result the caller dequantises inside its own fused pass; bf16 rounds W once and each GEMM's
// input as it runs.
struct Linear {
  torch::Tensor weight;  // [out, in]; let go once bf16 or int8 hold their own form (oneDNN)
  torch::Tensor bias;    // [out]
  int64_t out_features = 0, in_features = 0;
  // int8 (oneDNN's u8·s8 GEMM): weights as int8 [out, in] with a scale, and scale · the sum of
  // each row (for taking out the activations' zero point).
  torch::Tensor wq, w_scale, w_scaled_sum;
  LinearPacked packed;  // int8 without libdnnl: libtorch's quantized Linear
#ifdef EMBEDFLOW_HAVE_DNNL
  // The weights in the layout of oneDNN's matmul: int8 on AMX (PackedMatmul::amx_here), bf16 on
  // AMX or AVX512-BF16 (PackedMatmul::bf16_here), f32 where that is batch-invariant
  // (PackedMatmul::f32_invariant_here).
  std::shared_ptr<const PackedMatmul> matmul;
#endif
  // fp32 and emulated bf16 elsewhere: the weights packed for the fixed-order GEMM.
  std::shared_ptr<const fixed_gemm::PackedWeights> fixed;
  // bf16: the kernels that round each GEMM's input (null under fp32 and int8).
  const kernels::Kernels* bf16 = nullptr;

  Linear() = default;
  Linear(torch::Tensor w, torch::Tensor b)
      : weight(std::move(w)),
        bias(std::move(b)),
        out_features(weight.size(0)),
        in_features(weight.size(1)) {}

  void quantize() {
    // Symmetric int8 per output channel: scale = max|w| / 127 of each row.
    auto scales = (weight.abs().amax(1) / 127.0).clamp_min(1e-12);
#ifdef EMBEDFLOW_HAVE_DNNL
    w_scale = scales.to(torch::kFloat).contiguous();
    wq = (weight / w_scale.unsqueeze(1)).round().clamp(-127, 127).to(torch::kChar).contiguous();
    w_scaled_sum = (wq.to(torch::kInt).sum(1).to(torch::kFloat) * w_scale).contiguous();
    if (PackedMatmul::amx_here()) {
      matmul = std::make_shared<const PackedMatmul>(PackedMatmul::Type::U8S8, wq.data_ptr<int8_t>(),
                                                    out_features, in_features);
      wq = torch::Tensor();  // the packed copy serves
    }
    // The int8 forward (Encoder::forward_int8) needs only the int8 weights and their scales.
    weight = torch::Tensor();
#else
    auto zero_points = torch::zeros({weight.size(0)}, torch::kLong);
    auto q = torch::quantize_per_channel(weight, scales.to(torch::kDouble), zero_points, 0,
                                         torch::kQInt8);
    static auto prepack = c10::Dispatcher::singleton()
                              .findSchemaOrThrow("quantized::linear_prepack", "")
                              .typed<LinearPacked(at::Tensor, c10::optional<at::Tensor>)>();
    packed = prepack.call(q, bias);
#endif
  }

  // fp32 from now on: W packed for oneDNN's f32 matmul where that is batch-invariant, for the
  // fixed-order GEMM elsewhere; the unpacked copy let go.
  void pack_f32() {
    const torch::Tensor w = weight.contiguous();
#ifdef EMBEDFLOW_HAVE_DNNL
    if (PackedMatmul::f32_invariant_here())
      matmul = std::make_shared<const PackedMatmul>(PackedMatmul::Type::F32, w.data_ptr<float>(),
                                                    out_features, in_features, bias_or_null());
#endif
    if (!matmul_or_null())
      fixed = std::make_shared<const fixed_gemm::PackedWeights>(w.data_ptr<float>(), out_features,
                                                                in_features, in_features, 1);
    weight = torch::Tensor();
  }

  // bf16 from now on: W rounded to bf16 once, packed for oneDNN's bf16 matmul on AMX or
  // AVX512-BF16 (the fp32 copy let go), otherwise kept as the floats of those bf16 values for the
  // fp32 GEMM.
  void to_bf16(const kernels::Kernels& k) {
    bf16 = &k;
    const torch::Tensor w = weight.contiguous();
    const int64_t count = w.numel();
#ifdef EMBEDFLOW_HAVE_DNNL
    if (PackedMatmul::bf16_here()) {
      std::vector<uint16_t> bits(static_cast<size_t>(count));
      k.round_to_bf16(w.data_ptr<float>(), count, bits.data(), nullptr);
      matmul = std::make_shared<const PackedMatmul>(PackedMatmul::Type::Bf16, bits.data(),
                                                    out_features, in_features, bias_or_null());
      weight = torch::Tensor();
      return;
    }
#endif
    torch::Tensor rounded = torch::empty_like(w);
    k.round_to_bf16(w.data_ptr<float>(), count, nullptr, rounded.data_ptr<float>());
    weight = rounded;
    pack_f32();
  }

  // A head outside the encoder (ViT's pooler, CLIP's projections), fp32 and packed like the
  // encoder's own so that it is as batch-invariant: W [out, in], b [out] or undefined.
  static Linear head(torch::Tensor w, torch::Tensor b) {
    Linear lin(w.contiguous(), std::move(b));
    lin.pack_f32();
    return lin;
  }
  // x Wᵀ + b (b when defined) as a new [rows, out features] tensor, on the encoder's own fp32
  // GEMM: batch-invariant like it.
  torch::Tensor apply(const torch::Tensor& x) const {
    const torch::Tensor in = x.contiguous();
    torch::Tensor out = torch::empty({in.size(0), out_features});
    if (fuses_epilogue()) {
      gemm_fused(in, out, false, kernels::Activation::Identity);
      return out;
    }
    gemm(in, out, 0.0f);
    if (bias.defined()) out.add_(bias);
    return out;
  }

  // Whether gemm_fused can run: the GEMM is oneDNN's f32 or bf16 matmul, which adds the bias,
  // the residual and the activation to each result before storing it.
  bool fuses_epilogue() const {
#ifdef EMBEDFLOW_HAVE_DNNL
    return matmul != nullptr && matmul->type() != PackedMatmul::Type::U8S8;
#else
    return false;
#endif
  }
  // out = act(x Wᵀ + b (+ out's values before, when accumulate)) in the GEMM; only where
  // fuses_epilogue().
  void gemm_fused(const torch::Tensor& x, torch::Tensor& out, bool accumulate,
                  kernels::Activation act) const {
#ifdef EMBEDFLOW_HAVE_DNNL
    PackedMatmul::Epilogue e;
    e.accumulate = accumulate;
    e.bias = matmul->has_bias();
    e.activation = act;
    gemm(x.data_ptr<float>(), x.size(0), out.data_ptr<float>(), accumulate ? 1.0f : 0.0f, &e);
#else
    (void)x, (void)out, (void)accumulate, (void)act;
    throw std::logic_error("Linear::gemm_fused without oneDNN");
#endif
  }

  // Writes x Wᵀ into `out` and returns whether the bias is already added (fp32, or int8 on
  // libtorch's quantized Linear).
  bool forward(const torch::Tensor& x, torch::Tensor& out) const {
    if (packed) {
      out = packed->apply_dynamic(x, /*reduce_range=*/false);
      return true;
    }
    gemm(x, out, 0.0f);
    return false;
  }

  // acc += x Wᵀ (no bias), in the GEMM itself: the residual add of a post-LN block costs no
  // pass of its own. False when the weights are libtorch-quantized, whose GEMM writes a new
  // tensor.
  bool accumulate(const torch::Tensor& x, torch::Tensor& acc) const {
    if (packed) return false;
    gemm(x, acc, 1.0f);
    return true;
  }

  // out [m, out features] = a [m, in features] · Wᵀ + beta · out (beta 0 or 1), no bias, both
  // dense row-major; fp32 and bf16. `epilogue` (oneDNN's matmul only: fuses_epilogue) replaces
  // beta.
#ifdef EMBEDFLOW_HAVE_DNNL
  void gemm(const float* a, int64_t m, float* out, float beta,
            const PackedMatmul::Epilogue* epilogue = nullptr) const {
    auto run_matmul = [&](const void* in) {
      if (epilogue) return matmul->run(in, m, out, *epilogue);
      matmul->run(in, m, out, beta != 0.0f);
    };
#else
  void gemm(const float* a, int64_t m, float* out, float beta) const {
#endif
    const int64_t n = out_features, kk = in_features;
    if (bf16) {
      // The input rounded as bf16's numerics ask: to bits for the matmul, to floats otherwise.
      thread_local std::vector<uint16_t> bits;
      thread_local std::vector<float> rounded;
      const bool packed_bf16 = low_precision_matmul();
      if (packed_bf16)
        bits.resize(static_cast<size_t>(m * kk));
      else
        rounded.resize(static_cast<size_t>(m * kk));
      uint16_t* bp = packed_bf16 ? bits.data() : nullptr;
      float* rp = packed_bf16 ? nullptr : rounded.data();
      at::parallel_for(0, m, std::max<int64_t>(1, 16384 / kk), [&](int64_t r0, int64_t r1) {
        bf16->round_to_bf16(a + r0 * kk, (r1 - r0) * kk, bp ? bp + r0 * kk : nullptr,
                            rp ? rp + r0 * kk : nullptr);
      });
#ifdef EMBEDFLOW_HAVE_DNNL
      if (packed_bf16) return run_matmul(bp);
#endif
      a = rp;
    }
#ifdef EMBEDFLOW_HAVE_DNNL
    if (matmul) return run_matmul(a);  // f32, packed
    if (epilogue) throw std::logic_error("Linear::gemm: an epilogue without oneDNN's matmul");
#endif
    if (fixed) {
      const int threads = at::in_parallel_region() ? 1 : at::get_num_threads();
      const fixed_gemm::Split split = fixed->split(m, threads, 0, fixed->panels());
      at::parallel_for(0, split.tasks(), 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) fixed->run_task(split, t, a, m, out, n, beta != 0.0f);
      });
      return;
    }
    // Before pack_f32: libtorch's mm.
    auto at_a = torch::from_blob(const_cast<float*>(a), {m, kk});
    auto at_out = torch::from_blob(out, {m, n});
    if (beta == 0.0f)
      at::mm_out(at_out, at_a, weight.t());
    else
      at_out.addmm_(at_a, weight.t());
  }
  const float* bias_or_null() const {
    return bias.defined() ? bias.contiguous().data_ptr<float>() : nullptr;
  }
  const void* matmul_or_null() const {
#ifdef EMBEDFLOW_HAVE_DNNL
    return matmul.get();
#else
    return nullptr;
#endif
  }
  // Whether the int8 or bf16 GEMM runs on oneDNN's matmul in that type (AMX; bf16 also on
  // AVX512-BF16) rather than int8's u8·s8 GEMM or bf16 emulated on the fp32 one.
  bool low_precision_matmul() const {
#ifdef EMBEDFLOW_HAVE_DNNL
    return matmul != nullptr && matmul->type() != PackedMatmul::Type::F32;
#else
    return false;
#endif
  }
  // Whether that matmul runs on AMX.
  bool low_precision_on_amx() const {
#ifdef EMBEDFLOW_HAVE_DNNL
    return low_precision_matmul() && matmul->on_amx();
#else
    return false;
#endif
  }
  // Whether a row's result is the same bits whatever the batch, its place in it and the
  // threads (see the top of this file).
  bool batch_invariant() const {
    if (fixed) return true;
#ifdef EMBEDFLOW_HAVE_DNNL
    // int8 sums exactly in int32 whatever the order, and each row has its own scale.
    return matmul != nullptr || wq.defined();
#else
    return false;  // libtorch's int8 Linear quantises the whole batch with one scale
#endif
  }
  void gemm(const torch::Tensor& x, torch::Tensor& out, float beta) const {
    gemm(x.data_ptr<float>(), x.size(0), out.data_ptr<float>(), beta);
  }

#ifdef EMBEDFLOW_HAVE_DNNL
  // acc = rows [r0, r1) of in.q · Wqᵀ in int32 (u8·s8, oneDNN), [r1 − r0, out features].
  void gemm_s32(const QuantRows& in, int64_t r0, int64_t r1, int32_t* acc) const {
    const int64_t n = out_features, kk = in_features;
    if (matmul) return matmul->run(in.q.data_ptr<uint8_t>() + r0 * kk, r1 - r0, acc, false);
    const int32_t no_offset = 0;
    check_dnnl(
        dnnl_gemm_u8s8s32('N', 'T', 'F', r1 - r0, n, kk, 1.0f, in.q.data_ptr<uint8_t>() + r0 * kk,
                          kk, 0, wq.data_ptr<int8_t>(), kk, 0, 0.0f, acc, n, &no_offset),
        "dnnl_gemm_u8s8s32");
  }

  // Columns [c0, c0 + nc) of the GEMM result of input rows [r0, r1) back to float, with the
  // bias: acc points at row r0's result (rows lda apart); out gets r1 − r0 rows, ldo apart.
  void dequantize(const kernels::Kernels& k, const QuantRows& in, const int32_t* acc, int64_t lda,
                  int64_t r0, int64_t r1, int64_t c0, int64_t nc, float* out, int64_t ldo) const {
    k.dequantize_rows(acc + c0, lda, r1 - r0, nc, in.scale.data_ptr<float>() + r0,
                      in.zero.data_ptr<int32_t>() + r0, w_scale.data_ptr<float>() + c0,
                      w_scaled_sum.data_ptr<float>() + c0, bias.data_ptr<float>() + c0, out, ldo);
  }
#endif
};

}  // namespace embedflow::models::transformer
