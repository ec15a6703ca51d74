#include "models/transformer/encoder.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace embedflow::models::transformer {

namespace {

const float* ptr(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<float>() : nullptr;
}

std::string layer_key(const LayerKeys& keys, int64_t layer, const std::string& name) {
  std::string prefix = keys.layer_prefix;
  const size_t at = prefix.find("{}");
  if (at != std::string::npos) prefix.replace(at, 2, std::to_string(layer));
  return prefix + name;
}

}  // namespace

std::optional<kernels::Activation> activation_named(const std::string& name) {
  if (name == "gelu") return kernels::Activation::GeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return kernels::Activation::GeluTanh;
  if (name == "quick_gelu") return kernels::Activation::QuickGelu;
  if (name == "relu") return kernels::Activation::Relu;
  if (name == "silu" || name == "swish") return kernels::Activation::Silu;
  return std::nullopt;
}

int64_t relative_position_bucket(int64_t relative_position, int64_t num_buckets,
                                 int64_t max_distance) {
  // n = query − key; keys before the query (n > 0) take the lower half of the buckets.
  const int64_t n = -relative_position;
  const int64_t half = num_buckets / 2;
  int64_t bucket = n < 0 ? half : 0;
  const int64_t distance = n < 0 ? -n : n;
  const int64_t max_exact = half / 2;
  if (distance < max_exact) return bucket + distance;
  // The logarithmic part truncated as transformers' float32 computation truncates it; the
  // slack keeps exact powers (distance 16, 32, 64 for 32 buckets), where the quotient is an
  // integer, from landing one bucket low by rounding.
  const double scaled =
      std::log(static_cast<double>(distance) / static_cast<double>(max_exact)) /
      std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
      static_cast<double>(half - max_exact);
  const int64_t large = max_exact + static_cast<int64_t>(scaled + 1e-9);
  return bucket + std::min(large, half - 1);
}

kernels::ScoreBias Encoder::HeadBias::of(int64_t head) const {
  kernels::ScoreBias b;
  b.causal = causal;
  if (!relative.empty()) {
    // Row i of the head's [len, len] bias is the table from key − query = −i on: the row
    // pointer walks back one element per query (ld = −1).
    b.bias = relative.data() + head * (2 * max_len - 1) + (max_len - 1);
    b.ld = -1;
  }
  return b;
}

Encoder::Encoder(const EncoderConfig& c, WeightLoader& w, const LayerKeys& keys,
                 const std::string& relative_bias_key)
    : config_(c), k_((cap_onednn_isa_at_active_level(), &kernels::table())) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  if (h <= 0 || c.num_heads <= 0 || h % c.num_heads != 0)
    throw std::invalid_argument("encoder: hidden size " + std::to_string(h) +
                                " is not a positive multiple of the head count " +
                                std::to_string(c.num_heads));
  for (int64_t i = 0; i < c.num_layers; ++i) {
    auto key = [&](const std::string& name, const char* what) {
      return layer_key(keys, i, name) + what;
    };
    auto linear = [&](const std::string& name, int64_t out, int64_t in) {
      return Linear(w.take(key(name, ".weight"), {out, in}).contiguous(),
                    w.take(key(name, ".bias"), {out}).contiguous());
    };
    Layer L;
    const Linear q = linear(keys.query, h, h), k = linear(keys.key, h, h),
                 v = linear(keys.value, h, h);
    L.qkv = Linear(torch::cat({q.weight, k.weight, v.weight}, 0).contiguous(),
                   torch::cat({q.bias, k.bias, v.bias}, 0).contiguous());
    L.attention_out = linear(keys.attention_out, h, h);
    L.ffn_in = linear(keys.ffn_in, c.gated_ffn ? 2 * inter : inter, h);
    L.ffn_out = linear(keys.ffn_out, h, inter);
    // λ ⊙ (W x + b) = (diag(λ) W) x + λ ⊙ b.
    auto fold_scale = [&](Linear& lin, const std::string& name) {
      if (name.empty()) return;
      const torch::Tensor lambda = w.take(key(name, ""), {h});
      lin.weight = (lin.weight * lambda.unsqueeze(1)).contiguous();
      lin.bias = (lin.bias * lambda).contiguous();
    };
    fold_scale(L.attention_out, keys.layer_scale1);
    fold_scale(L.ffn_out, keys.layer_scale2);
    L.norm1_weight = w.take(key(keys.norm1, ".weight"), {h}).contiguous();
    L.norm1_bias = w.take(key(keys.norm1, ".bias"), {h}).contiguous();
    L.norm2_weight = w.take(key(keys.norm2, ".weight"), {h}).contiguous();
    L.norm2_bias = w.take(key(keys.norm2, ".bias"), {h}).contiguous();
    layers_.push_back(std::move(L));
  }
  if (c.relative_buckets > 0)
    relative_bias_ = w.take(relative_bias_key, {c.relative_buckets, c.num_heads}).contiguous();
}

void Encoder::set_precision(Precision precision) {
  if (precision_set_) throw std::logic_error("encoder: the precision is set once");
  precision_set_ = true;
  if (precision == Precision::Int8) {
#ifdef EMBEDFLOW_HAVE_DNNL
    quant_levels_ = activation_levels();
#else
    // libtorch's quantized Linear runs on whichever quantised engine this libtorch has.
    auto& engines = at::globalContext().supportedQEngines();
    if (std::find(engines.begin(), engines.end(), at::QEngine::ONEDNN) != engines.end())
      at::globalContext().setQEngine(at::QEngine::ONEDNN);
    else if (std::find(engines.begin(), engines.end(), at::QEngine::FBGEMM) != engines.end())
      at::globalContext().setQEngine(at::QEngine::FBGEMM);
    else
      throw ModelError(
          "precision int8: this libtorch has neither the oneDNN nor the FBGEMM quantised engine");
#endif
  }
  for (auto& L : layers_)
    for (Linear* lin : {&L.qkv, &L.attention_out, &L.ffn_in, &L.ffn_out}) switch (precision) {
        case Precision::F32:
          lin->pack_f32();
          break;
        case Precision::Int8:
          lin->quantize();
          break;
        case Precision::Bf16:
          lin->to_bf16(*k_);
          break;
      }
  precision_ = precision;
}

bool Encoder::batch_invariant() const {
  for (const auto& L : layers_)
    for (const Linear* lin : {&L.qkv, &L.attention_out, &L.ffn_in, &L.ffn_out})
      if (!lin->batch_invariant()) return false;
  return true;
}

std::string Encoder::precision_path() const {
  const std::string invariance =
      batch_invariant() ? "; batch-invariant" : "; last bits vary with the batch";
  const bool packed = !layers_.empty() && layers_[0].qkv.low_precision_matmul();
  const bool amx = packed && layers_[0].qkv.low_precision_on_amx();
  return gemm_path(packed, amx) + invariance;
}

std::string Encoder::gemm_path(bool packed, bool amx) const {
  switch (precision_) {
    case Precision::F32:
      if (!layers_.empty() && layers_[0].qkv.fixed)
        return std::string("fp32 (fixed-order GEMM, ") + layers_[0].qkv.fixed->kernels().build +
               ")";
      return layers_.empty() || layers_[0].qkv.matmul_or_null() ? "fp32 (packed matmul)"
                                                                : "fp32 (libtorch mm)";
    case Precision::Int8:
#ifdef EMBEDFLOW_HAVE_DNNL
      return std::string("int8 (") + (amx ? "AMX matmul" : "u8·s8 GEMM") + ", " +
             (quant_levels_ == 255 ? "8" : "7") + "-bit activations)";
#else
      return "int8 (libtorch quantized Linear)";
#endif
    case Precision::Bf16:
      if (!packed) return "bf16 (emulated on the fp32 GEMM: neither AMX nor AVX512-BF16 in use)";
      return amx ? "bf16 (AMX matmul)" : "bf16 (AVX512-BF16 matmul)";
  }
  return "?";
}

double Encoder::linear_flops(int64_t tokens) const {
  const double h = static_cast<double>(config_.hidden_size);
  const double i = static_cast<double>(config_.intermediate_size);
  // Q, K, V and the output projection (4·h·h) plus the two feed-forward GEMMs (2·h·i, the
  // first twice as wide when gated).
  const double per_token_layer = 2.0 * (4.0 * h * h + (config_.gated_ffn ? 3.0 : 2.0) * h * i);
  return per_token_layer * static_cast<double>(config_.num_layers) * static_cast<double>(tokens);
}

// The smallest share of each kind of pass worth handing to a thread: ~16k floats of rows,
// ~64k multiply-adds of attention.
Encoder::Grains Encoder::grains(int64_t max_len) const {
  const int64_t d = config_.head_dim();
  return {std::max<int64_t>(1, 16384 / config_.hidden_size),
          std::max<int64_t>(1, 16384 / config_.intermediate_size),
          std::max<int64_t>(1, 65536 / std::max<int64_t>(1, max_len * max_len * d))};
}

// Whether attention runs per group of whole sequences (enough of them to share out evenly)
// rather than per (sequence, head) pair.
bool Encoder::attention_by_sequence(int64_t n_seqs) {
  return n_seqs >= 2 * at::get_num_threads();
}

// Consecutive sequences grouped into blocks of about kGroupRows rows: attention runs the qkv
// GEMM of one group at a time, single-threaded, into a buffer that all the group's heads then
// read while it is in cache (read from a [T, 3h] result head by head, each head's narrow strided
// columns would come from memory). The group count is rounded up to a multiple of the threads
// and the rows shared out evenly, so that a small batch (16 short captions: ~200 rows) still
// gives every thread its part rather than one thread the two full groups and another the rest.
// Holds the first sequence of each group, then the number of sequences; max_rows is the
// tallest group's row count.
Encoder::SequenceGroups Encoder::sequence_groups(const std::vector<int64_t>& offsets) {
  constexpr int64_t kGroupRows = 96;
  SequenceGroups g;
  const int64_t n_seqs = static_cast<int64_t>(offsets.size()) - 1;
  const int64_t total = offsets.back() - offsets.front();
  const int64_t threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  const int64_t count = (total + kGroupRows - 1) / kGroupRows;
  const int64_t even_count = std::max<int64_t>(1, (count + threads - 1) / threads * threads);
  const int64_t target = (total + even_count - 1) / even_count;
  for (int64_t b = 1; b <= n_seqs; ++b)
    if (b == n_seqs || offsets[b] - offsets[g.first.back()] >= target) {
      g.max_rows = std::max(g.max_rows, offsets[b] - offsets[g.first.back()]);
      g.first.push_back(b);
    }
  return g;
}

Encoder::HeadBias Encoder::head_bias(int64_t max_len) const {
  HeadBias b;
  b.causal = config_.causal;
  b.max_len = max_len;
  if (!relative_bias_.defined()) return b;
  const int64_t heads = config_.num_heads, width = 2 * max_len - 1;
  b.relative.resize(static_cast<size_t>(heads * width));
  const float* table = relative_bias_.data_ptr<float>();  // [buckets, heads]
  for (int64_t r = -(max_len - 1); r <= max_len - 1; ++r) {
    const int64_t bucket =
        relative_position_bucket(r, config_.relative_buckets, config_.relative_max_distance);
    for (int64_t hd = 0; hd < heads; ++hd)
      b.relative[static_cast<size_t>(hd * width + r + max_len - 1)] = table[bucket * heads + hd];
  }
  return b;
}

// Every head of one sequence whose q, k, v rows are staged in `rows` ([len, 3h]); writes its
// context rows ctx [len, h]. scratch: attention_scratch_floats(len, d) floats.
void Encoder::sequence_heads(const float* rows, int64_t len, const float* qkv_bias,
                             const HeadBias& bias, float* ctx, float* scratch) const {
  const int64_t h = config_.hidden_size, heads = config_.num_heads, d = h / heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t hd = 0; hd < heads; ++hd) {
    const float* base = rows + hd * d;
    const float* b = qkv_bias ? qkv_bias + hd * d : nullptr;
    k_->attention_head(base, base + h, base + 2 * h, b, b ? b + h : nullptr,
                       b ? b + 2 * h : nullptr, 3 * h, len, d, scale, bias.of(hd), ctx + hd * d, h,
                       scratch);
  }
}

// Attention per (sequence, head) pair over a whole [T, 3h] q, k, v matrix, for batches of too
// few sequences to share out by group (and libtorch's int8 Linear).
void Encoder::attention_per_head(const float* qkv, const float* qkv_bias,
                                 const std::vector<int64_t>& offsets, int64_t max_len,
                                 const HeadBias& bias, float* ctx) const {
  const int64_t h = config_.hidden_size, heads = config_.num_heads, d = h / heads;
  const int64_t n_seqs = static_cast<int64_t>(offsets.size()) - 1;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  at::parallel_for(0, n_seqs * heads, grains(max_len).heads, [&](int64_t w0, int64_t w1) {
    std::vector<float> scratch(static_cast<size_t>(kernels::attention_scratch_floats(max_len, d)));
    for (int64_t wi = w0; wi < w1; ++wi) {
      const int64_t b = wi / heads, hd = wi % heads;
      const int64_t row0 = offsets[b], len = offsets[b + 1] - offsets[b];
      const float* base = qkv + row0 * 3 * h + hd * d;
      const float* qb = qkv_bias ? qkv_bias + hd * d : nullptr;
      k_->attention_head(base, base + h, base + 2 * h, qb, qb ? qb + h : nullptr,
                         qb ? qb + 2 * h : nullptr, 3 * h, len, d, scale, bias.of(hd),
                         ctx + row0 * h + hd * d, h, scratch.data());
    }
  });
}

void Encoder::attention(const Layer& L, const torch::Tensor& in,
                        const std::vector<int64_t>& offsets, int64_t max_len, const HeadBias& bias,
                        torch::Tensor& qkv, torch::Tensor& ctx) const {
  const int64_t h = config_.hidden_size, d = config_.head_dim();
  const int64_t n_seqs = static_cast<int64_t>(offsets.size()) - 1;
  float* cp = ctx.data_ptr<float>();
  // The q, k, v biases are left to the attention kernel.
  if (attention_by_sequence(n_seqs) && !L.qkv.packed) {
    // Per group of whole sequences: the group's qkv GEMM into a buffer of the thread's, then
    // every head of each of its sequences on that still-cached result.
    const SequenceGroups groups = sequence_groups(offsets);
    at::parallel_for(0, groups.size(), 1, [&](int64_t g0, int64_t g1) {
      torch::Tensor rows_t = torch::empty({groups.max_rows, 3 * h});
      float* rows = rows_t.data_ptr<float>();
      std::vector<float> scratch(
          static_cast<size_t>(kernels::attention_scratch_floats(max_len, d)));
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t first = offsets[groups.first[g]];
        L.qkv.gemm(in.data_ptr<float>() + first * h, offsets[groups.first[g + 1]] - first, rows,
                   0.0f);
        for (int64_t b = groups.first[g]; b < groups.first[g + 1]; ++b)
          sequence_heads(rows + (offsets[b] - first) * 3 * h, offsets[b + 1] - offsets[b],
                         ptr(L.qkv.bias), bias, cp + offsets[b] * h, scratch.data());
      }
    });
  } else {
    // One qkv GEMM, then attention per (sequence, head): few sequences to share out, or
    // libtorch's int8 Linear (which has added the biases).
    if (qkv.size(0) != in.size(0)) qkv = torch::empty({in.size(0), 3 * h});
    const float* qkv_bias = L.qkv.forward(in, qkv) ? nullptr : ptr(L.qkv.bias);
    attention_per_head(qkv.data_ptr<float>(), qkv_bias, offsets, max_len, bias, cp);
  }
}

// x = LayerNorm(x + in Wᵀ + b): the GEMM accumulates into x where it can (fp32), otherwise
// writes `scratch` for the fused add + LayerNorm kernel to read.
void Encoder::add_residual_layernorm(const Linear& lin, const torch::Tensor& in, torch::Tensor& x,
                                     torch::Tensor& scratch, const torch::Tensor& gamma,
                                     const torch::Tensor& beta, int64_t grain) const {
  const int64_t n = x.size(1);
  const float eps = config_.layer_norm_eps;
  const float* y = nullptr;
  bool has_bias = false;
  if (!lin.accumulate(in, x)) {
    has_bias = lin.forward(in, scratch);
    y = scratch.data_ptr<float>();
  }
  float* xp = x.data_ptr<float>();
  at::parallel_for(0, x.size(0), grain, [&](int64_t r0, int64_t r1) {
    k_->residual_layernorm(xp + r0 * n, y ? y + r0 * n : nullptr,
                           has_bias ? nullptr : ptr(lin.bias), ptr(gamma), ptr(beta), r1 - r0, n,
                           eps);
  });
}

void Encoder::add_residual(const Linear& lin, const torch::Tensor& in, torch::Tensor& x,
                           torch::Tensor& scratch, int64_t grain) const {
  const int64_t n = x.size(1);
  float* xp = x.data_ptr<float>();
  if (lin.fuses_epilogue()) return lin.gemm_fused(in, x, true, kernels::Activation::Identity);
  if (lin.accumulate(in, x)) {
    at::parallel_for(0, x.size(0), grain, [&](int64_t r0, int64_t r1) {
      k_->bias_activation(xp + r0 * n, ptr(lin.bias), r1 - r0, n, kernels::Activation::Identity);
    });
    return;
  }
  const bool has_bias = lin.forward(in, scratch);
  x.add_(scratch);
  if (!has_bias) x.add_(lin.bias);
}

void Encoder::feed_forward_in(const Layer& L, const torch::Tensor& in, torch::Tensor& gate,
                              torch::Tensor& inter, int64_t grain) const {
  const int64_t n = inter.size(1);
  float* ip = inter.data_ptr<float>();
  if (config_.gated_ffn) {
    const bool has_bias = L.ffn_in.forward(in, gate);
    const float* gp = gate.data_ptr<float>();
    at::parallel_for(0, inter.size(0), grain, [&](int64_t r0, int64_t r1) {
      k_->gated_activation(gp + r0 * 2 * n, has_bias ? nullptr : ptr(L.ffn_in.bias), r1 - r0, n,
                           config_.activation, ip + r0 * n, n);
    });
    return;
  }
  if (L.ffn_in.fuses_epilogue()) return L.ffn_in.gemm_fused(in, inter, false, config_.activation);
  const bool has_bias = L.ffn_in.forward(in, inter);
  at::parallel_for(0, inter.size(0), grain, [&](int64_t r0, int64_t r1) {
    k_->bias_activation(ip + r0 * n, has_bias ? nullptr : ptr(L.ffn_in.bias), r1 - r0, n,
                        config_.activation);
  });
}

torch::Tensor Encoder::gate_buffer(int64_t tokens) const {
  return torch::empty({config_.gated_ffn ? tokens : 0, 2 * config_.intermediate_size});
}

void Encoder::forward(torch::Tensor& x, const std::vector<int64_t>& offsets) const {
  int64_t max_len = 0;
  for (size_t b = 0; b + 1 < offsets.size(); ++b)
    max_len = std::max(max_len, offsets[b + 1] - offsets[b]);
#ifdef EMBEDFLOW_HAVE_DNNL
  if (precision_ == Precision::Int8) return forward_int8(x, offsets, max_len);
#endif
  if (config_.norm == NormPlacement::Pre) return forward_pre_norm(x, offsets, max_len);
  forward_post_norm(x, offsets, max_len);
}

void Encoder::forward_post_norm(torch::Tensor& x, const std::vector<int64_t>& offsets,
                                int64_t max_len) const {
  const int64_t T = x.size(0), h = config_.hidden_size;
  const Grains grain = grains(max_len);
  const HeadBias bias = head_bias(max_len);
  torch::Tensor qkv = torch::empty({0, 3 * h});
  torch::Tensor ctx = torch::empty({T, h});
  torch::Tensor proj = torch::empty({T, h});
  torch::Tensor inter = torch::empty({T, config_.intermediate_size});
  torch::Tensor gate = gate_buffer(T);

  for (const Layer& L : layers_) {
    attention(L, x, offsets, max_len, bias, qkv, ctx);
    add_residual_layernorm(L.attention_out, ctx, x, proj, L.norm1_weight, L.norm1_bias, grain.rows);
    // Feed-forward: GEMM, fused bias + activation, GEMM, fused bias + residual + LayerNorm.
    feed_forward_in(L, x, gate, inter, grain.ffn_rows);
    add_residual_layernorm(L.ffn_out, inter, x, proj, L.norm2_weight, L.norm2_bias, grain.rows);
  }
}

void Encoder::forward_pre_norm(torch::Tensor& x, const std::vector<int64_t>& offsets,
                               int64_t max_len) const {
  const int64_t T = x.size(0), h = config_.hidden_size;
  const float eps = config_.layer_norm_eps;
  const Grains grain = grains(max_len);
  const HeadBias bias = head_bias(max_len);
  torch::Tensor normed = torch::empty({T, h});
  torch::Tensor qkv = torch::empty({0, 3 * h});
  torch::Tensor ctx = torch::empty({T, h});
  torch::Tensor proj = torch::empty({T, h});
  torch::Tensor inter = torch::empty({T, config_.intermediate_size});
  torch::Tensor gate = gate_buffer(T);
  const float* xp = x.data_ptr<float>();
  float* np = normed.data_ptr<float>();
  auto layernorm = [&](const torch::Tensor& gamma, const torch::Tensor& beta) {
    at::parallel_for(0, T, grain.rows, [&](int64_t r0, int64_t r1) {
      k_->layernorm(xp + r0 * h, np + r0 * h, ptr(gamma), ptr(beta), r1 - r0, h, eps);
    });
  };

  for (const Layer& L : layers_) {
    layernorm(L.norm1_weight, L.norm1_bias);
    attention(L, normed, offsets, max_len, bias, qkv, ctx);
    add_residual(L.attention_out, ctx, x, proj, grain.rows);
    layernorm(L.norm2_weight, L.norm2_bias);
    feed_forward_in(L, normed, gate, inter, grain.ffn_rows);
    add_residual(L.ffn_out, inter, x, proj, grain.rows);
  }
}

#ifdef EMBEDFLOW_HAVE_DNNL
// lin's int32 GEMM over `in` in blocks of rows, each block's result handed at once to
// epilogue(r0, r1, acc) while it is still in cache, instead of one GEMM whose [T, n] result the
// next pass reads back from memory. Each thread runs its own blocks, single-threaded GEMMs and
// all, as many blocks per thread (one-thread u8·s8 GEMMs of ~100 rows measured as fast as, or
// faster than, one over all rows).
template <class Epilogue>
void Encoder::gemm_s32_blocks(const Linear& lin, const QuantRows& in, Epilogue epilogue) const {
  constexpr int64_t kRows = 96;
  const int64_t T = in.q.size(0), n = lin.out_features;
  const int64_t threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  const int64_t blocks = threads * ((T + threads * kRows - 1) / (threads * kRows));
  const int64_t rows = (T + blocks - 1) / blocks;
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    torch::Tensor acc_t = torch::empty({rows, n}, torch::kInt);
    int32_t* acc = acc_t.data_ptr<int32_t>();
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * rows, r1 = std::min(T, r0 + rows);
      if (r0 >= r1) break;
      lin.gemm_s32(in, r0, r1, acc);
      epilogue(r0, r1, acc);
    }
  });
}

// The layers on oneDNN's u8·s8 GEMM, each GEMM's int32 result dequantised inside the pass that
// consumes it (attention, LayerNorm, activation), which also quantises the next GEMM's input:
// x itself after a post-LN residual pass, the next block's LayerNorm of x after a pre-LN one.
void Encoder::forward_int8(torch::Tensor& x, const std::vector<int64_t>& offsets,
                           int64_t max_len) const {
  const int64_t T = x.size(0), h = config_.hidden_size, d = config_.head_dim();
  const int64_t n_seqs = static_cast<int64_t>(offsets.size()) - 1;
  const int64_t n_inter = config_.intermediate_size;
  const int64_t n_ffn_in = config_.gated_ffn ? 2 * n_inter : n_inter;
  const bool pre_norm = config_.norm == NormPlacement::Pre;
  const float eps = config_.layer_norm_eps;
  const Grains grain = grains(max_len);
  const HeadBias bias = head_bias(max_len);
  // Fused passes walk their rows in blocks this tall, so a block's floats stay in L1/L2
  // between dequantising, normalising or activating, and quantising again.
  constexpr int64_t kBlock = 8;

  QuantRows xq(T, h, quant_levels_), ctxq(T, h, quant_levels_), interq(T, n_inter, quant_levels_);
  const SequenceGroups groups = sequence_groups(offsets);
  const bool by_sequence = attention_by_sequence(n_seqs);
  torch::Tensor acc_qkv = torch::empty({by_sequence ? 0 : T, 3 * h}, torch::kInt);
  torch::Tensor qkv = torch::empty({by_sequence ? 0 : T, 3 * h});
  torch::Tensor ctx = torch::empty({T, h});
  float* xp = x.data_ptr<float>();
  const int32_t* aq = acc_qkv.data_ptr<int32_t>();

  // The next GEMM's input from rows [b0, b1) of x: x itself (post-LN), or its LayerNorm by
  // (gamma, beta) through `normed` (pre-LN; kBlock rows of h).
  auto quantize_input = [&](int64_t b0, int64_t b1, const torch::Tensor& gamma,
                            const torch::Tensor& beta, float* normed) {
    if (!pre_norm) return xq.quantize(*k_, xp + b0 * h, b0, b1);
    k_->layernorm(xp + b0 * h, normed, ptr(gamma), ptr(beta), b1 - b0, h, eps);
    xq.quantize(*k_, normed, b0, b1);
  };
  at::parallel_for(0, T, grain.rows, [&](int64_t r0, int64_t r1) {
    std::vector<float> normed(static_cast<size_t>(kBlock * h));
    for (int64_t b0 = r0; b0 < r1; b0 += kBlock)
      quantize_input(b0, std::min(r1, b0 + kBlock), layers_[0].norm1_weight, layers_[0].norm1_bias,
                     normed.data());
  });

  // x = x + in · linᵀ + b, each GEMM block's rows finished as it is done: LayerNorm by
  // (gamma, beta) in place after post-LN, kept as they are after pre-LN; then, if `next` (the
  // next GEMM's input norm under pre-LN, gamma/beta again under post-LN) is given, quantised
  // into xq for the next GEMM.
  using Norm = std::pair<const torch::Tensor*, const torch::Tensor*>;
  auto residual = [&](const Linear& lin, const QuantRows& in, Norm norm, std::optional<Norm> next) {
    gemm_s32_blocks(lin, in, [&](int64_t r0, int64_t r1, const int32_t* acc) {
      std::vector<float> y(static_cast<size_t>(kBlock * h)), normed(y.size());
      float* yp = y.data();
      for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
        const int64_t b1 = std::min(r1, b0 + kBlock);
        lin.dequantize(*k_, in, acc + (b0 - r0) * h, h, b0, b1, 0, h, yp, h);
        float* xb = xp + b0 * h;
        if (pre_norm) {
          for (int64_t i = 0; i < (b1 - b0) * h; ++i) xb[i] += yp[i];
        } else {
          k_->residual_layernorm(xb, yp, nullptr, ptr(*norm.first), ptr(*norm.second), b1 - b0, h,
                                 eps);
        }
        if (next) quantize_input(b0, b1, *next->first, *next->second, normed.data());
      }
    });
  };

  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    const Layer* following = l + 1 < layers_.size() ? &layers_[l + 1] : nullptr;
    float* cp = ctx.data_ptr<float>();
    if (by_sequence) {
      // Per group of whole sequences: the group's qkv GEMM, then for each sequence its q, k, v
      // rows dequantised (with their biases) from that still-cached result, every head, and
      // its context rows quantised for the output projection.
      at::parallel_for(0, groups.size(), 1, [&](int64_t g0, int64_t g1) {
        torch::Tensor acc_t = torch::empty({groups.max_rows, 3 * h}, torch::kInt);
        torch::Tensor rows_t = torch::empty({max_len, 3 * h});
        int32_t* acc = acc_t.data_ptr<int32_t>();
        float* rows = rows_t.data_ptr<float>();
        std::vector<float> scratch(
            static_cast<size_t>(kernels::attention_scratch_floats(max_len, d)));
        for (int64_t g = g0; g < g1; ++g) {
          const int64_t first = offsets[groups.first[g]];
          L.qkv.gemm_s32(xq, first, offsets[groups.first[g + 1]], acc);
          for (int64_t b = groups.first[g]; b < groups.first[g + 1]; ++b) {
            const int64_t row0 = offsets[b], row1 = offsets[b + 1];
            L.qkv.dequantize(*k_, xq, acc + (row0 - first) * 3 * h, 3 * h, row0, row1, 0, 3 * h,
                             rows, 3 * h);
            sequence_heads(rows, row1 - row0, nullptr, bias, cp + row0 * h, scratch.data());
            ctxq.quantize(*k_, cp + row0 * h, row0, row1);
          }
        }
      });
    } else {
      // Few sequences (long ones): one qkv GEMM, dequantised whole, then attention per
      // (sequence, head) to keep every thread busy.
      L.qkv.gemm_s32(xq, 0, T, acc_qkv.data_ptr<int32_t>());
      float* qp = qkv.data_ptr<float>();
      at::parallel_for(0, T, grain.rows, [&](int64_t r0, int64_t r1) {
        L.qkv.dequantize(*k_, xq, aq + r0 * 3 * h, 3 * h, r0, r1, 0, 3 * h, qp + r0 * 3 * h, 3 * h);
      });
      attention_per_head(qp, nullptr, offsets, max_len, bias, cp);
      at::parallel_for(0, T, grain.rows,
                       [&](int64_t r0, int64_t r1) { ctxq.quantize(*k_, cp + r0 * h, r0, r1); });
    }
    const Norm norm1{&L.norm1_weight, &L.norm1_bias}, norm2{&L.norm2_weight, &L.norm2_bias};
    residual(L.attention_out, ctxq, norm1, pre_norm ? norm2 : norm1);

    // Feed-forward: the intermediate activations exist in float only a few rows at a time.
    gemm_s32_blocks(L.ffn_in, xq, [&](int64_t r0, int64_t r1, const int32_t* acc) {
      std::vector<float> y(static_cast<size_t>(kBlock * n_ffn_in));
      std::vector<float> gated(static_cast<size_t>(config_.gated_ffn ? kBlock * n_inter : 0));
      for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
        const int64_t b1 = std::min(r1, b0 + kBlock);
        L.ffn_in.dequantize(*k_, xq, acc + (b0 - r0) * n_ffn_in, n_ffn_in, b0, b1, 0, n_ffn_in,
                            y.data(), n_ffn_in);
        if (config_.gated_ffn) {
          k_->gated_activation(y.data(), nullptr, b1 - b0, n_inter, config_.activation,
                               gated.data(), n_inter);
          interq.quantize(*k_, gated.data(), b0, b1);
        } else {
          k_->bias_activation(y.data(), nullptr, b1 - b0, n_inter, config_.activation);
          interq.quantize(*k_, y.data(), b0, b1);
        }
      }
    });
    std::optional<Norm> next;
    if (following) next = pre_norm ? Norm{&following->norm1_weight, &following->norm1_bias} : norm2;
    residual(L.ffn_out, interq, norm2, next);
  }
}
#endif

}  // namespace embedflow::models::transformer
