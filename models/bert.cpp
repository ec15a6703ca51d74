#include "models/bert.h"

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/native/quantized/PackedParams.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#ifdef EMBEDFLOW_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include "models/bert_kernels.h"
#include "models/bert_linear.h"
#include "models/safetensors.h"
#include "models/torch_runtime.h"
#include "models/weights.h"

namespace embedflow::models {

namespace kernels = bert_kernels;

const char* bert_pooling_name(BertPooling p) {
  switch (p) {
    case BertPooling::Cls:
      return "cls";
    case BertPooling::Max:
      return "max";
    case BertPooling::Mean:
      return "mean";
    case BertPooling::MeanSqrtLen:
      return "mean_sqrt_len";
  }
  return "?";
}

BertConfig BertConfig::from_json(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) throw ModelError(path + ": expected a JSON object");
  const std::string model_type = j.value("model_type", "bert");
  if (model_type != "bert")
    throw ModelError(path + ": model_type is \"" + model_type +
                     "\"; only BERT encoders (model_type \"bert\": MiniLM, BGE, E5, GTE, …) "
                     "are supported");
  if (j.contains("architectures") && j["architectures"].is_array()) {
    for (const auto& a : j["architectures"]) {
      std::string arch = a.is_string() ? a.get<std::string>() : "";
      if (arch.rfind("Bert", 0) != 0)
        throw ModelError(path + ": architecture \"" + arch + "\" is not a BERT model");
    }
  }
  BertConfig c;
  // The upper bounds are far above any published encoder; they keep a broken or hostile
  // config.json from sizing allocations before the weights are checked against it.
  auto get_int = [&](const char* key, int64_t& out, int64_t lo, int64_t hi) {
    if (!j.contains(key)) return;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < lo || j[key].get<int64_t>() > hi)
      throw ModelError(path + ": \"" + key + "\" must be an integer from " + std::to_string(lo) +
                       " to " + std::to_string(hi) + ", found " + j[key].dump());
    out = j[key].get<int64_t>();
  };
  get_int("vocab_size", c.vocab_size, 1, int64_t{1} << 22);
  get_int("hidden_size", c.hidden_size, 1, int64_t{1} << 16);
  get_int("num_hidden_layers", c.num_hidden_layers, 1, 1024);
  get_int("num_attention_heads", c.num_attention_heads, 1, 1024);
  get_int("intermediate_size", c.intermediate_size, 1, int64_t{1} << 18);
  get_int("max_position_embeddings", c.max_position_embeddings, 2, int64_t{1} << 20);
  get_int("type_vocab_size", c.type_vocab_size, 1, int64_t{1} << 16);
  if (j.contains("layer_norm_eps")) {
    if (!j["layer_norm_eps"].is_number() || j["layer_norm_eps"].get<double>() <= 0)
      throw ModelError(path + ": \"layer_norm_eps\" must be a positive number");
    c.layer_norm_eps = j["layer_norm_eps"].get<double>();
  }
  if (j.contains("hidden_act")) {
    c.hidden_act = j["hidden_act"].is_string() ? j["hidden_act"].get<std::string>() : "";
    if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new" &&
        c.hidden_act != "gelu_pytorch_tanh" && c.hidden_act != "relu")
      throw ModelError(path + ": hidden_act \"" + c.hidden_act +
                       "\" is not supported (expected gelu, gelu_new, gelu_pytorch_tanh or relu)");
  }
  if (j.contains("position_embedding_type") &&
      j["position_embedding_type"] != nlohmann::json("absolute"))
    throw ModelError(path + ": position_embedding_type " + j["position_embedding_type"].dump() +
                     " is not supported (expected \"absolute\")");
  if (c.hidden_size % c.num_attention_heads != 0)
    throw ModelError(path + ": hidden_size " + std::to_string(c.hidden_size) +
                     " is not a multiple of num_attention_heads " +
                     std::to_string(c.num_attention_heads));
  return c;
}

double bert_linear_flops(const BertConfig& c, int64_t tokens) {
  const double h = static_cast<double>(c.hidden_size);
  const double i = static_cast<double>(c.intermediate_size);
  // Q, K, V and the output projection (4·h·h) plus the two feed-forward GEMMs (2·h·i).
  const double per_token_layer = 2.0 * (4.0 * h * h + 2.0 * h * i);
  return per_token_layer * static_cast<double>(c.num_hidden_layers) * static_cast<double>(tokens);
}

double measure_gemm_gflops(int64_t m, int64_t n, int64_t k, int repeats) {
  c10::InferenceMode guard;
  torch::manual_seed(0);
  auto a = torch::randn({m, k});
  auto b = torch::randn({n, k});  // used transposed, as a Linear weight
  auto out = torch::empty({m, n});
  at::mm_out(out, a, b.t());  // warm-up
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    at::mm_out(out, a, b.t());
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(m * n * k) / s / 1e9);
  }
  return best;
}

namespace {

using namespace bert_linear;

struct Layer {
  Linear qkv;  // query, key and value fused: [3h, h]
  Linear attn_out;
  torch::Tensor ln1_weight, ln1_bias;
  Linear intermediate;
  Linear output;
  torch::Tensor ln2_weight, ln2_bias;
};

kernels::Activation activation_of(const std::string& name) {
  if (name == "relu") return kernels::Activation::Relu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return kernels::Activation::GeluTanh;
  return kernels::Activation::GeluErf;
}

const float* ptr(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<float>() : nullptr;
}

}  // namespace

struct BertModel::Impl {
  BertConfig config;
  BertPrecision precision = BertPrecision::F32;
  torch::Tensor word, position, token_type0;  // token type 0 only: single-sentence inputs
  torch::Tensor emb_ln_weight, emb_ln_bias;
  std::vector<Layer> layers;
  kernels::Activation act = kernels::Activation::GeluErf;
  const kernels::Kernels* k = nullptr;

  // x = LayerNorm(x + in Wᵀ + b): the GEMM accumulates into x where it can (fp32), otherwise
  // writes `scratch` for the fused add + LayerNorm kernel to read.
  void add_residual_layernorm(const Linear& lin, const torch::Tensor& in, torch::Tensor& x,
                              torch::Tensor& scratch, const torch::Tensor& gamma,
                              const torch::Tensor& beta, int64_t grain, float eps) const {
    const int64_t n = x.size(1);
    const float* y = nullptr;
    bool has_bias = false;
    if (!lin.accumulate(in, x)) {
      has_bias = lin.forward(in, scratch);
      y = scratch.data_ptr<float>();
    }
    float* xp = x.data_ptr<float>();
    at::parallel_for(0, x.size(0), grain, [&](int64_t r0, int64_t r1) {
      k->residual_layernorm(xp + r0 * n, y ? y + r0 * n : nullptr,
                            has_bias ? nullptr : ptr(lin.bias), ptr(gamma), ptr(beta), r1 - r0, n,
                            eps);
    });
  }

  // The smallest share of each kind of pass worth handing to a thread: ~16k floats of rows,
  // ~64k multiply-adds of attention.
  struct Grains {
    int64_t rows, ffn_rows, heads;
  };
  Grains grains(int64_t max_len) const {
    const int64_t d = config.hidden_size / config.num_attention_heads;
    return {std::max<int64_t>(1, 16384 / config.hidden_size),
            std::max<int64_t>(1, 16384 / config.intermediate_size),
            std::max<int64_t>(1, 65536 / std::max<int64_t>(1, max_len * max_len * d))};
  }

  // Whether attention runs per group of whole sequences (enough of them to share out evenly)
  // rather than per (sequence, head) pair.
  static bool attention_by_sequence(int64_t n_seqs) { return n_seqs >= 2 * at::get_num_threads(); }

  // Consecutive sequences grouped into blocks of at least kGroupRows rows: attention runs the
  // qkv GEMM of one group at a time, single-threaded, into a buffer that all the group's heads
  // then read while it is in cache (read from a [T, 3h] result head by head, each head's
  // narrow strided columns would come from memory). Holds the first sequence of each group,
  // then the number of sequences; max_rows is the tallest group's row count.
  struct SequenceGroups {
    std::vector<int64_t> first{0};
    int64_t max_rows = 0;
    int64_t size() const { return static_cast<int64_t>(first.size()) - 1; }
  };
  static SequenceGroups sequence_groups(const std::vector<int64_t>& offsets) {
    constexpr int64_t kGroupRows = 96;
    SequenceGroups g;
    const int64_t n_seqs = static_cast<int64_t>(offsets.size()) - 1;
    for (int64_t b = 1; b <= n_seqs; ++b)
      if (b == n_seqs || offsets[b] - offsets[g.first.back()] >= kGroupRows) {
        g.max_rows = std::max(g.max_rows, offsets[b] - offsets[g.first.back()]);
        g.first.push_back(b);
      }
    return g;
  }

  // Every head of one sequence whose q, k, v rows are staged in `rows` ([len, 3h]); writes its
  // context rows ctx [len, h]. scratch: attention_scratch_floats(len, d) floats.
  void sequence_heads(const float* rows, int64_t len, const float* qkv_bias, float* ctx,
                      float* scratch) const {
    const int64_t h = config.hidden_size, heads = config.num_attention_heads, d = h / heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    for (int64_t hd = 0; hd < heads; ++hd) {
      const float* base = rows + hd * d;
      const float* bias = qkv_bias ? qkv_bias + hd * d : nullptr;
      k->attention_head(base, base + h, base + 2 * h, bias, bias ? bias + h : nullptr,
                        bias ? bias + 2 * h : nullptr, 3 * h, len, d, scale, ctx + hd * d, h,
                        scratch);
    }
  }

  // Attention per (sequence, head) pair over a whole [T, 3h] q, k, v matrix, for batches of
  // too few sequences to share out by group (and libtorch's int8 Linear).
  void attention_per_head(const float* qkv, const float* qkv_bias,
                          const std::vector<int64_t>& offsets, int64_t max_len, float* ctx) const {
    const int64_t h = config.hidden_size, heads = config.num_attention_heads, d = h / heads;
    const int64_t n_seqs = static_cast<int64_t>(offsets.size()) - 1;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    at::parallel_for(0, n_seqs * heads, grains(max_len).heads, [&](int64_t w0, int64_t w1) {
      std::vector<float> scratch(
          static_cast<size_t>(kernels::attention_scratch_floats(max_len, d)));
      for (int64_t wi = w0; wi < w1; ++wi) {
        const int64_t b = wi / heads, hd = wi % heads;
        const int64_t row0 = offsets[b], len = offsets[b + 1] - offsets[b];
        const float* base = qkv + row0 * 3 * h + hd * d;
        const float* bias = qkv_bias ? qkv_bias + hd * d : nullptr;
        k->attention_head(base, base + h, base + 2 * h, bias, bias ? bias + h : nullptr,
                          bias ? bias + 2 * h : nullptr, 3 * h, len, d, scale,
                          ctx + row0 * h + hd * d, h, scratch.data());
      }
    });
  }

#ifdef EMBEDFLOW_HAVE_DNNL
  // lin's int32 GEMM over `in` in blocks of rows, each block's result handed at once to
  // epilogue(r0, r1, acc) while it is still in cache, instead of one GEMM whose [T, n] result
  // the next pass reads back from memory. Each thread runs its own blocks, single-threaded
  // GEMMs and all, as many blocks per thread (one-thread u8·s8 GEMMs of ~100 rows measured as
  // fast as, or faster than, one over all rows).
  template <class Epilogue>
  void gemm_s32_blocks(const Linear& lin, const QuantRows& in, Epilogue epilogue) const {
    constexpr int64_t kRows = 96;
    const int64_t T = in.q.size(0), n = lin.wq.size(0);
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
#endif

  // Runs the encoder; returns the last hidden states [T, h] and the row offset of each sequence.
  torch::Tensor forward(const std::vector<std::vector<int32_t>>& seqs,
                        std::vector<int64_t>& offsets) const;
  // The transformer layers on the packed rows x [T, h] (in place), fp32 or libtorch int8.
  void layers_forward(torch::Tensor& x, const std::vector<int64_t>& offsets, int64_t max_len) const;
#ifdef EMBEDFLOW_HAVE_DNNL
  // The same on oneDNN's u8·s8 GEMM, each GEMM's int32 result dequantised inside the pass
  // that consumes it (attention, LayerNorm, GELU), which also quantises the next GEMM's input.
  void layers_forward_int8(torch::Tensor& x, const std::vector<int64_t>& offsets,
                           int64_t max_len) const;
#endif
};

BertModel::BertModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BertModel::BertModel(BertModel&&) noexcept = default;
BertModel& BertModel::operator=(BertModel&&) noexcept = default;
BertModel::~BertModel() = default;
const BertConfig& BertModel::config() const {
  return impl_->config;
}
BertPrecision BertModel::precision() const {
  return impl_->precision;
}

BertModel BertModel::load(const std::string& weights, const BertConfig& c,
                          BertPrecision precision) {
  use_caching_tensor_allocator();
  c10::InferenceMode guard;
  auto impl = std::make_unique<Impl>();
  impl->config = c;
  impl->precision = precision;
  impl->act = activation_of(c.hidden_act);
  impl->k = &kernels::table();

  WeightLoader w(SafeTensorsFile::open(weights), {"", "bert."});
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  impl->word = w.take("embeddings.word_embeddings.weight", {c.vocab_size, h}).contiguous();
  impl->position =
      w.take("embeddings.position_embeddings.weight", {c.max_position_embeddings, h}).contiguous();
  impl->token_type0 =
      w.take("embeddings.token_type_embeddings.weight", {c.type_vocab_size, h})[0].contiguous();
  impl->emb_ln_weight = w.take("embeddings.LayerNorm.weight", {h});
  impl->emb_ln_bias = w.take("embeddings.LayerNorm.bias", {h});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    Layer L;
    auto q_w = w.take(p + "attention.self.query.weight", {h, h});
    auto k_w = w.take(p + "attention.self.key.weight", {h, h});
    auto v_w = w.take(p + "attention.self.value.weight", {h, h});
    auto q_b = w.take(p + "attention.self.query.bias", {h});
    auto k_b = w.take(p + "attention.self.key.bias", {h});
    auto v_b = w.take(p + "attention.self.value.bias", {h});
    L.qkv.weight = torch::cat({q_w, k_w, v_w}, 0).contiguous();
    L.qkv.bias = torch::cat({q_b, k_b, v_b}, 0).contiguous();
    L.attn_out.weight = w.take(p + "attention.output.dense.weight", {h, h}).contiguous();
    L.attn_out.bias = w.take(p + "attention.output.dense.bias", {h}).contiguous();
    L.ln1_weight = w.take(p + "attention.output.LayerNorm.weight", {h}).contiguous();
    L.ln1_bias = w.take(p + "attention.output.LayerNorm.bias", {h}).contiguous();
    L.intermediate.weight = w.take(p + "intermediate.dense.weight", {inter, h}).contiguous();
    L.intermediate.bias = w.take(p + "intermediate.dense.bias", {inter}).contiguous();
    L.output.weight = w.take(p + "output.dense.weight", {h, inter}).contiguous();
    L.output.bias = w.take(p + "output.dense.bias", {h}).contiguous();
    L.ln2_weight = w.take(p + "output.LayerNorm.weight", {h}).contiguous();
    L.ln2_bias = w.take(p + "output.LayerNorm.bias", {h}).contiguous();
    impl->layers.push_back(std::move(L));
  }
  // Buffers and heads a sentence encoder does not use.
  w.ignore("embeddings\\.position_ids");
  w.ignore("pooler\\..*");
  w.ignore("cls\\..*");
  w.finish();

  if (precision == BertPrecision::Int8) {
#ifndef EMBEDFLOW_HAVE_DNNL
    auto& engines = at::globalContext().supportedQEngines();
    if (std::find(engines.begin(), engines.end(), at::QEngine::ONEDNN) != engines.end())
      at::globalContext().setQEngine(at::QEngine::ONEDNN);
    else if (std::find(engines.begin(), engines.end(), at::QEngine::FBGEMM) != engines.end())
      at::globalContext().setQEngine(at::QEngine::FBGEMM);
    else
      throw ModelError(
          "precision int8: this libtorch has neither the oneDNN nor the FBGEMM "
          "quantised engine");
#endif
    for (auto& L : impl->layers)
      for (Linear* lin : {&L.qkv, &L.attn_out, &L.intermediate, &L.output}) lin->quantize();
  }
  return BertModel(std::move(impl));
}

torch::Tensor BertModel::Impl::forward(const std::vector<std::vector<int32_t>>& seqs,
                                       std::vector<int64_t>& offsets) const {
  const int64_t h = config.hidden_size;
  const float eps = static_cast<float>(config.layer_norm_eps);

  offsets.assign(seqs.size() + 1, 0);
  int64_t max_len = 0;
  for (size_t b = 0; b < seqs.size(); ++b) {
    const int64_t len = static_cast<int64_t>(seqs[b].size());
    if (len == 0) throw std::invalid_argument("sequence " + std::to_string(b) + " is empty");
    if (len > config.max_position_embeddings)
      throw std::invalid_argument("sequence " + std::to_string(b) + " has " + std::to_string(len) +
                                  " tokens; the model has " +
                                  std::to_string(config.max_position_embeddings) + " positions");
    for (int32_t id : seqs[b])
      if (id < 0 || id >= config.vocab_size)
        throw std::invalid_argument("token id " + std::to_string(id) +
                                    " is outside the vocabulary of " +
                                    std::to_string(config.vocab_size));
    offsets[b + 1] = offsets[b] + len;
    max_len = std::max(max_len, len);
  }
  const int64_t T = offsets.back();
  const int64_t row_grain = grains(max_len).rows;

  // Embeddings: word + position + token type 0, then LayerNorm; one row per real token.
  torch::Tensor x = torch::empty({T, h});
  {
    float* xp = x.data_ptr<float>();
    const float* wp = word.data_ptr<float>();
    const float* pp = position.data_ptr<float>();
    const float* tp = token_type0.data_ptr<float>();
    for (size_t b = 0; b < seqs.size(); ++b)
      for (size_t t = 0; t < seqs[b].size(); ++t) {
        float* row = xp + (offsets[b] + static_cast<int64_t>(t)) * h;
        const float* wr = wp + static_cast<int64_t>(seqs[b][t]) * h;
        const float* pr = pp + static_cast<int64_t>(t) * h;
        for (int64_t i = 0; i < h; ++i) row[i] = wr[i] + pr[i] + tp[i];
      }
    at::parallel_for(0, T, row_grain, [&](int64_t r0, int64_t r1) {
      k->residual_layernorm(xp + r0 * h, nullptr, nullptr, ptr(emb_ln_weight), ptr(emb_ln_bias),
                            r1 - r0, h, eps);
    });
  }

#ifdef EMBEDFLOW_HAVE_DNNL
  if (precision == BertPrecision::Int8) {
    layers_forward_int8(x, offsets, max_len);
    return x;
  }
#endif
  layers_forward(x, offsets, max_len);
  return x;
}

void BertModel::Impl::layers_forward(torch::Tensor& x, const std::vector<int64_t>& offsets,
                                     int64_t max_len) const {
  const int64_t T = x.size(0), h = config.hidden_size, heads = config.num_attention_heads;
  const int64_t d = h / heads, n_seqs = static_cast<int64_t>(offsets.size()) - 1;
  const float eps = static_cast<float>(config.layer_norm_eps);
  const Grains grain = grains(max_len);

  const SequenceGroups groups = sequence_groups(offsets);
  const bool by_sequence = attention_by_sequence(n_seqs) && !layers.front().qkv.packed;
  torch::Tensor qkv = torch::empty({by_sequence ? 0 : T, 3 * h});
  torch::Tensor ctx = torch::empty({T, h});
  torch::Tensor proj = torch::empty({T, h});
  torch::Tensor inter = torch::empty({T, config.intermediate_size});

  for (const Layer& L : layers) {
    // Self-attention on the packed rows: every sequence, and every head of it, is independent.
    // The q, k, v biases are left to the attention kernel.
    float* cp = ctx.data_ptr<float>();
    if (by_sequence) {
      // Per group of whole sequences: the group's qkv GEMM into a buffer of the thread's,
      // then every head of each of its sequences on that still-cached result.
      at::parallel_for(0, groups.size(), 1, [&](int64_t g0, int64_t g1) {
        torch::Tensor rows_t = torch::empty({groups.max_rows, 3 * h});
        float* rows = rows_t.data_ptr<float>();
        std::vector<float> scratch(
            static_cast<size_t>(kernels::attention_scratch_floats(max_len, d)));
        for (int64_t g = g0; g < g1; ++g) {
          const int64_t first = offsets[groups.first[g]];
          L.qkv.gemm(x.data_ptr<float>() + first * h, offsets[groups.first[g + 1]] - first, rows,
                     0.0f);
          for (int64_t b = groups.first[g]; b < groups.first[g + 1]; ++b)
            sequence_heads(rows + (offsets[b] - first) * 3 * h, offsets[b + 1] - offsets[b],
                           ptr(L.qkv.bias), cp + offsets[b] * h, scratch.data());
        }
      });
    } else {
      // One qkv GEMM, then attention per (sequence, head): few sequences to share out, or
      // libtorch's int8 Linear (which has added the biases).
      const float* qkv_bias = L.qkv.forward(x, qkv) ? nullptr : ptr(L.qkv.bias);
      attention_per_head(qkv.data_ptr<float>(), qkv_bias, offsets, max_len, cp);
    }
    add_residual_layernorm(L.attn_out, ctx, x, proj, L.ln1_weight, L.ln1_bias, grain.rows, eps);

    // Feed-forward: GEMM, fused bias + activation, GEMM, fused bias + residual + LayerNorm.
    const bool has_bias = L.intermediate.forward(x, inter);
    const int64_t n_inter = inter.size(1);
    at::parallel_for(0, T, grain.ffn_rows, [&](int64_t r0, int64_t r1) {
      k->bias_activation(inter.data_ptr<float>() + r0 * n_inter,
                         has_bias ? nullptr : ptr(L.intermediate.bias), r1 - r0, n_inter, act);
    });
    add_residual_layernorm(L.output, inter, x, proj, L.ln2_weight, L.ln2_bias, grain.rows, eps);
  }
}

#ifdef EMBEDFLOW_HAVE_DNNL
void BertModel::Impl::layers_forward_int8(torch::Tensor& x, const std::vector<int64_t>& offsets,
                                          int64_t max_len) const {
  const int64_t T = x.size(0), h = config.hidden_size, heads = config.num_attention_heads;
  const int64_t d = h / heads, n_seqs = static_cast<int64_t>(offsets.size()) - 1;
  const int64_t n_inter = config.intermediate_size;
  const float eps = static_cast<float>(config.layer_norm_eps);
  const Grains grain = grains(max_len);
  // Fused passes walk their rows in blocks this tall, so a block's floats stay in L1/L2
  // between dequantising, normalising or activating, and quantising again.
  constexpr int64_t kBlock = 8;

  QuantRows xq(T, h), ctxq(T, h), interq(T, n_inter);
  const SequenceGroups groups = sequence_groups(offsets);
  const bool by_sequence = attention_by_sequence(n_seqs);
  torch::Tensor acc_qkv = torch::empty({by_sequence ? 0 : T, 3 * h}, torch::kInt);
  torch::Tensor qkv = torch::empty({by_sequence ? 0 : T, 3 * h});
  torch::Tensor ctx = torch::empty({T, h});
  float* xp = x.data_ptr<float>();
  const int32_t* aq = acc_qkv.data_ptr<int32_t>();

  at::parallel_for(0, T, grain.rows,
                   [&](int64_t r0, int64_t r1) { xq.quantize(*k, xp + r0 * h, r0, r1); });

  // x = LayerNorm(x + in · linᵀ + b), each GEMM block's rows normalised as it is done, then
  // quantised into xq for the next GEMM.
  auto residual_norm = [&](const Linear& lin, const QuantRows& in, const torch::Tensor& gamma,
                           const torch::Tensor& beta, bool requantize) {
    gemm_s32_blocks(lin, in, [&](int64_t r0, int64_t r1, const int32_t* acc) {
      std::vector<float> y(static_cast<size_t>(kBlock * h));
      float* yp = y.data();
      for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
        const int64_t b1 = std::min(r1, b0 + kBlock);
        lin.dequantize(*k, in, acc + (b0 - r0) * h, h, b0, b1, 0, h, yp, h);
        k->residual_layernorm(xp + b0 * h, yp, nullptr, ptr(gamma), ptr(beta), b1 - b0, h, eps);
        if (requantize) xq.quantize(*k, xp + b0 * h, b0, b1);
      }
    });
  };

  for (size_t l = 0; l < layers.size(); ++l) {
    const Layer& L = layers[l];
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
            L.qkv.dequantize(*k, xq, acc + (row0 - first) * 3 * h, 3 * h, row0, row1, 0, 3 * h,
                             rows, 3 * h);
            sequence_heads(rows, row1 - row0, nullptr, cp + row0 * h, scratch.data());
            ctxq.quantize(*k, cp + row0 * h, row0, row1);
          }
        }
      });
    } else {
      // Few sequences (long ones): one qkv GEMM, dequantised whole, then attention per
      // (sequence, head) to keep every thread busy.
      L.qkv.gemm_s32(xq, 0, T, acc_qkv.data_ptr<int32_t>());
      float* qp = qkv.data_ptr<float>();
      at::parallel_for(0, T, grain.rows, [&](int64_t r0, int64_t r1) {
        L.qkv.dequantize(*k, xq, aq + r0 * 3 * h, 3 * h, r0, r1, 0, 3 * h, qp + r0 * 3 * h, 3 * h);
      });
      attention_per_head(qp, nullptr, offsets, max_len, cp);
      at::parallel_for(0, T, grain.rows,
                       [&](int64_t r0, int64_t r1) { ctxq.quantize(*k, cp + r0 * h, r0, r1); });
    }
    residual_norm(L.attn_out, ctxq, L.ln1_weight, L.ln1_bias, true);

    // Feed-forward: the intermediate activations exist in float only a few rows at a time.
    gemm_s32_blocks(L.intermediate, xq, [&](int64_t r0, int64_t r1, const int32_t* acc) {
      std::vector<float> y(static_cast<size_t>(kBlock * n_inter));
      for (int64_t b0 = r0; b0 < r1; b0 += kBlock) {
        const int64_t b1 = std::min(r1, b0 + kBlock);
        L.intermediate.dequantize(*k, xq, acc + (b0 - r0) * n_inter, n_inter, b0, b1, 0, n_inter,
                                  y.data(), n_inter);
        k->bias_activation(y.data(), nullptr, b1 - b0, n_inter, act);
        interq.quantize(*k, y.data(), b0, b1);
      }
    });
    residual_norm(L.output, interq, L.ln2_weight, L.ln2_bias, l + 1 < layers.size());
  }
}
#endif

std::vector<float> BertModel::hidden_states(const std::vector<std::vector<int32_t>>& seqs) const {
  c10::InferenceMode guard;
  std::vector<int64_t> offsets;
  torch::Tensor x = impl_->forward(seqs, offsets);
  const float* p = x.data_ptr<float>();
  return std::vector<float>(p, p + x.numel());
}

std::vector<float> BertModel::encode(const std::vector<std::vector<int32_t>>& seqs,
                                     const std::vector<BertPooling>& poolings) const {
  if (poolings.empty()) throw std::invalid_argument("no pooling mode given");
  c10::InferenceMode guard;
  std::vector<int64_t> offsets;
  torch::Tensor x = impl_->forward(seqs, offsets);
  const int64_t h = impl_->config.hidden_size;
  const int64_t width = h * static_cast<int64_t>(poolings.size());
  std::vector<float> out(seqs.size() * static_cast<size_t>(width));
  const float* xp = x.data_ptr<float>();
  for (size_t b = 0; b < seqs.size(); ++b) {
    const float* rows = xp + offsets[b] * h;
    const int64_t len = offsets[b + 1] - offsets[b];
    for (size_t m = 0; m < poolings.size(); ++m) {
      float* o = out.data() + static_cast<int64_t>(b) * width + static_cast<int64_t>(m) * h;
      switch (poolings[m]) {
        case BertPooling::Cls:
          std::copy(rows, rows + h, o);
          break;
        case BertPooling::Max:
          std::copy(rows, rows + h, o);
          for (int64_t t = 1; t < len; ++t)
            for (int64_t i = 0; i < h; ++i) o[i] = std::max(o[i], rows[t * h + i]);
          break;
        case BertPooling::Mean:
        case BertPooling::MeanSqrtLen: {
          std::fill(o, o + h, 0.0f);
          for (int64_t t = 0; t < len; ++t)
            for (int64_t i = 0; i < h; ++i) o[i] += rows[t * h + i];
          const float n = static_cast<float>(len);
          const float div = poolings[m] == BertPooling::Mean ? n : std::sqrt(n);
          for (int64_t i = 0; i < h; ++i) o[i] /= div;
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace embedflow::models
