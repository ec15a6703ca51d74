// The transformer encoder stack that every text and vision family is a configuration of: N
// identical layers of self-attention and a feed-forward block, with the LayerNorm after each
// residual (post-LN: BERT, RoBERTa, XLM-R, DistilBERT, MPNet) or before each block (pre-LN:
// CLIP's towers, ViT, DINOv2).
//
//   post-LN   x = LN₁(x + Attention(x));      x = LN₂(x + FFN(x))
//   pre-LN    x = x + Attention(LN₁(x));      x = x + FFN(LN₂(x))
//
// Sequences are packed without padding: a batch is one [tokens, hidden] matrix, every Linear is
// one GEMM over all real tokens, and attention runs per sequence (per (sequence, head) when a
// batch has too few sequences to share out) on its own rows, so no FLOP is spent on padding and
// no padding mask exists. What differs per family is data: the activation, the norm placement,
// a causal mask (CLIP's text tower), MPNet's bucketed relative position bias, a gated
// feed-forward (DINOv2 giant's SwiGLU), and where the
// checkpoint keeps each parameter (LayerKeys). Embeddings and pooling belong to the family
// (text_model.cpp, clip.cpp). Private to the models library: it includes torch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/encoder.h"
#include "models/transformer/kernels.h"
#include "models/transformer/linear.h"
#include "models/transformer/positions.h"
#include "models/weights.h"

namespace embedflow::models::transformer {

enum class NormPlacement { Post, Pre };

// transformers' hidden_act names: gelu (erf), gelu_new / gelu_pytorch_tanh (tanh), quick_gelu,
// relu; nullopt for another.
std::optional<kernels::Activation> activation_named(const std::string& name);
inline constexpr const char* kActivationNames =
    "gelu, gelu_new, gelu_pytorch_tanh, quick_gelu or relu";

struct EncoderConfig {
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  kernels::Activation activation = kernels::Activation::GeluErf;
  // A gated feed-forward (SwiGLU when the activation is Silu): the first Linear yields
  // 2 · intermediate_size columns, a gate half and a value half, and the second takes
  // activation(gate) ⊙ value.
  bool gated_ffn = false;
  NormPlacement norm = NormPlacement::Post;
  float layer_norm_eps = 1e-12f;
  bool causal = false;
  // MPNet: a [buckets, heads] table of score biases by bucketed relative position, one table
  // for every layer (0: none).
  int64_t relative_buckets = 0;
  int64_t relative_max_distance = 128;

  int64_t head_dim() const { return hidden_size / num_heads; }
};

// Where a checkpoint keeps one layer's parameters, relative to its layer prefix (e.g.
// "encoder.layer.3."), without the ".weight" / ".bias" suffix.
struct LayerKeys {
  std::string layer_prefix;  // with "{}" for the layer index
  std::string query, key, value, attention_out, norm1, ffn_in, ffn_out, norm2;
  // DINOv2's layer scale: a per-channel factor on each block's output before its residual add,
  // the whole parameter name ("layer_scale1.lambda1"); empty: none. Folded into attention_out
  // and ffn_out at load, so it costs nothing per token.
  std::string layer_scale1 = "", layer_scale2 = "";
};

class Encoder {
 public:
  // Takes every layer's tensors (and `relative_bias_key` when the config has buckets) from
  // `weights`, which records what is missing or mis-shaped.
  Encoder(const EncoderConfig& config, WeightLoader& weights, const LayerKeys& keys,
          const std::string& relative_bias_key = "");

  // The precision, set once after loading (fp32 packs the weights where linear.h says). int8: every
  // Linear's weights per output channel, activations per token at run time (linear.h says on what);
  // bf16: weights rounded once, activations per GEMM.
  void set_precision(Precision precision);
  Precision precision() const { return precision_; }
  // The precision, what runs it here and whether it is batch-invariant, e.g. "int8 (AMX
  // matmul, 8-bit activations); batch-invariant".
  std::string precision_path() const;
  // Whether every row's result is the same bits whatever batch it ran in, its place there and
  // the thread count (#16): int8 with oneDNN, fp32 and bf16 on a packed matmul (linear.h).
  bool batch_invariant() const;
  const EncoderConfig& config() const { return config_; }

  // Every layer on the packed rows x [T, hidden], in place; sequence b is rows
  // [offsets[b], offsets[b + 1]). Runs on the calling thread with its intra-op thread count.
  void forward(torch::Tensor& x, const std::vector<int64_t>& offsets) const;

  // FLOPs of the Linear layers for `tokens` real tokens (2·m·n·k per GEMM).
  double linear_flops(int64_t tokens) const;

 private:
  // precision_path's first part: the precision and the GEMM that runs it.
  std::string gemm_path(bool packed, bool amx) const;
  struct Layer {
    Linear qkv;  // query, key and value fused: [3h, h]
    Linear attention_out, ffn_in, ffn_out;
    torch::Tensor norm1_weight, norm1_bias, norm2_weight, norm2_bias;
  };
  struct Grains {
    int64_t rows, ffn_rows, heads;
  };
  struct SequenceGroups {
    std::vector<int64_t> first{0};
    int64_t max_rows = 0;
    int64_t size() const { return static_cast<int64_t>(first.size()) - 1; }
  };
  // What attention adds to one head's scores: the relative-position Toeplitz rows and/or the
  // causal mask.
  struct HeadBias {
    std::vector<float> relative;  // [heads, 2·max_len − 1], by key − query
    int64_t max_len = 0;
    bool causal = false;
    kernels::ScoreBias of(int64_t head) const;
  };

  Grains grains(int64_t max_len) const;
  static bool attention_by_sequence(int64_t n_seqs);
  static SequenceGroups sequence_groups(const std::vector<int64_t>& offsets);
  HeadBias head_bias(int64_t max_len) const;

  void sequence_heads(const float* rows, int64_t len, const float* qkv_bias, const HeadBias& bias,
                      float* ctx, float* scratch) const;
  void attention_per_head(const float* qkv, const float* qkv_bias,
                          const std::vector<int64_t>& offsets, int64_t max_len,
                          const HeadBias& bias, float* ctx) const;
  // Self-attention of every sequence of `in` [T, h] into ctx [T, h], before the output
  // projection.
  void attention(const Layer& layer, const torch::Tensor& in, const std::vector<int64_t>& offsets,
                 int64_t max_len, const HeadBias& bias, torch::Tensor& qkv,
                 torch::Tensor& ctx) const;
  void add_residual_layernorm(const Linear& lin, const torch::Tensor& in, torch::Tensor& x,
                              torch::Tensor& scratch, const torch::Tensor& gamma,
                              const torch::Tensor& beta, int64_t grain) const;
  // inter = activation(in · ffn_inᵀ + b), or its gated form through `gate` [T, 2·inter]: the
  // feed-forward block's first half.
  void feed_forward_in(const Layer& layer, const torch::Tensor& in, torch::Tensor& gate,
                       torch::Tensor& inter, int64_t grain) const;
  // The [T, 2·inter] buffer of a gated feed-forward's first GEMM (empty when not gated).
  torch::Tensor gate_buffer(int64_t tokens) const;
  // x += in · linᵀ + b.
  void add_residual(const Linear& lin, const torch::Tensor& in, torch::Tensor& x,
                    torch::Tensor& scratch, int64_t grain) const;

  void forward_post_norm(torch::Tensor& x, const std::vector<int64_t>& offsets,
                         int64_t max_len) const;
  void forward_pre_norm(torch::Tensor& x, const std::vector<int64_t>& offsets,
                        int64_t max_len) const;
#ifdef EMBEDFLOW_HAVE_DNNL
  template <class Epilogue>
  void gemm_s32_blocks(const Linear& lin, const QuantRows& in, Epilogue epilogue) const;
  // Both norm placements: only what each residual pass does next differs.
  void forward_int8(torch::Tensor& x, const std::vector<int64_t>& offsets, int64_t max_len) const;
#endif

  EncoderConfig config_;
  std::vector<Layer> layers_;
  torch::Tensor relative_bias_;  // [buckets, heads]
  const kernels::Kernels* k_ = nullptr;
  Precision precision_ = Precision::F32;
  bool precision_set_ = false;
  int32_t quant_levels_ = 127;  // int8 activations' range (activation_levels)
};

}  // namespace embedflow::models::transformer
