#include "models/transformer/text_model.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "models/config_values.h"
#include "models/safetensors.h"
#include "models/torch_runtime.h"
#include "models/transformer/encoder.h"
#include "models/weights.h"

namespace embedflow::models {

using transformer::Encoder;
using transformer::EncoderConfig;
using transformer::LayerKeys;
namespace kernels = transformer::kernels;

const char* text_pooling_name(TextPooling p) {
  switch (p) {
    case TextPooling::Cls:
      return "cls";
    case TextPooling::Max:
      return "max";
    case TextPooling::Mean:
      return "mean";
    case TextPooling::MeanSqrtLen:
      return "mean_sqrt_len";
    case TextPooling::WeightedMean:
      return "weightedmean";
    case TextPooling::LastToken:
      return "lasttoken";
  }
  return "?";
}

double measure_gemm_gflops(int64_t m, int64_t n, int64_t k, int repeats) {
  c10::InferenceMode guard;
  torch::manual_seed(0);
  // The encoders' own fp32 GEMM (transformer::Linear: oneDNN's packed matmul or the fixed-order
  // GEMM, by level).
  transformer::Linear lin(torch::randn({n, k}), torch::Tensor());
  lin.pack_f32();
  const torch::Tensor a = torch::randn({m, k});
  torch::Tensor out = torch::empty({m, n});
  lin.gemm(a, out, 0.0f);  // warm-up
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    lin.gemm(a, out, 0.0f);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(m * n * k) / s / 1e9);
  }
  return best;
}

namespace {

// ---- the families ---------------------------------------------------------------------------

// How a family's checkpoint names its parameters.
enum class Layout { Bert, DistilBert, MPNet };

struct Family {
  const char* model_type;
  const char* name;
  const char* examples;
  Layout layout;
  std::vector<std::string> prefixes;  // with and without the architecture's own
  // Positions as RoBERTa numbers them: padding_idx + 1 on, pads at padding_idx (else 0 on).
  bool padding_offset_positions;
};

const std::vector<Family>& families() {
  static const std::vector<Family> f = {
      {"bert", "BERT", "all-MiniLM-L6-v2, BGE, E5, GTE, LaBSE", Layout::Bert, {"", "bert."}, false},
      {"roberta", "RoBERTa", "all-distilroberta-v1", Layout::Bert, {"", "roberta."}, true},
      {"xlm-roberta",
       "XLM-RoBERTa",
       "paraphrase-multilingual-MiniLM-L12-v2, multilingual-e5",
       Layout::Bert,
       {"", "roberta.", "xlm_roberta."},
       true},
      {"distilbert",
       "DistilBERT",
       "msmarco-distilbert-base-v4, distiluse",
       Layout::DistilBert,
       {"", "distilbert."},
       false},
      {"mpnet", "MPNet", "all-mpnet-base-v2", Layout::MPNet, {"", "mpnet."}, true},
  };
  return f;
}

std::string supported_list() {
  std::string s;
  for (const auto& f : families())
    s += std::string(s.empty() ? "" : ", ") + "\"" + f.model_type + "\" (" + f.name + ")";
  return s;
}

const Family& family_of(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) throw ModelError(path + ": expected a JSON object");
  const std::string model_type = j.contains("model_type") && j["model_type"].is_string()
                                     ? j["model_type"].get<std::string>()
                                     : "bert";
  for (const auto& f : families())
    if (model_type == f.model_type) return f;
  throw ModelError(path + ": model_type \"" + model_type +
                   "\" is not a supported text encoder; supported: " + supported_list());
}

// config.json's values, bounded (models/config_values.h), named in messages by `path`.
struct ConfigReader {
  const nlohmann::json& j;
  const std::string& path;

  int64_t integer(const char* key, int64_t fallback, int64_t lo, int64_t hi) const {
    return config_int(j, key, fallback, lo, hi, path);
  }
  float positive(const char* key, double fallback) const {
    if (!j.contains(key)) return static_cast<float>(fallback);
    if (!j[key].is_number() || j[key].get<double>() <= 0)
      throw ModelError(path + ": \"" + key + "\" must be a positive number, found " +
                       j[key].dump());
    return static_cast<float>(j[key].get<double>());
  }
  kernels::Activation activation(const char* key, const char* fallback) const {
    const std::string name =
        !j.contains(key) ? fallback : (j[key].is_string() ? j[key].get<std::string>() : "");
    if (auto a = transformer::activation_named(name)) return *a;
    throw ModelError(path + ": " + key + " " + (j.contains(key) ? j[key].dump() : "") +
                     " is not supported (expected " + transformer::kActivationNames + ")");
  }
};

// Everything in front of the encoder: per token, word + position (+ token type 0), then
// LayerNorm.
struct Embeddings {
  torch::Tensor word, position, token_type0, norm_weight, norm_bias;
  int64_t padding_idx = -1;  // RoBERTa-style positions when ≥ 0
  float eps = 1e-12f;
};

struct Parsed {
  TextModelInfo info;
  EncoderConfig encoder;
  int64_t max_positions = 0;  // rows of the position table
  int64_t type_vocab_size = 0;
  int64_t padding_idx = -1;
};

Parsed parse_config(const Family& f, const nlohmann::json& j, const std::string& path) {
  const ConfigReader r{j, path};
  Parsed p;
  p.info.family = f.name;
  p.info.model_type = f.model_type;
  EncoderConfig& e = p.encoder;
  e.norm = transformer::NormPlacement::Post;
  p.info.vocab_size = r.integer("vocab_size", 30522, 1, int64_t{1} << 22);
  p.max_positions = r.integer("max_position_embeddings", 512, 2, int64_t{1} << 20);
  if (f.layout == Layout::DistilBert) {
    // DistilBertConfig's names; its LayerNorms are built with eps 1e-12 whatever the file says.
    e.hidden_size = r.integer("dim", 768, 1, int64_t{1} << 16);
    e.num_layers = r.integer("n_layers", 6, 1, 1024);
    e.num_heads = r.integer("n_heads", 12, 1, 1024);
    e.intermediate_size = r.integer("hidden_dim", 3072, 1, int64_t{1} << 18);
    e.activation = r.activation("activation", "gelu");
    e.layer_norm_eps = 1e-12f;
  } else {
    e.hidden_size = r.integer("hidden_size", 768, 1, int64_t{1} << 16);
    e.num_layers = r.integer("num_hidden_layers", 12, 1, 1024);
    e.num_heads = r.integer("num_attention_heads", 12, 1, 1024);
    e.intermediate_size = r.integer("intermediate_size", 3072, 1, int64_t{1} << 18);
    e.activation = r.activation("hidden_act", "gelu");
    e.layer_norm_eps = r.positive("layer_norm_eps", f.layout == Layout::MPNet ? 1e-5 : 1e-12);
  }
  if (f.layout == Layout::Bert) {
    p.type_vocab_size = r.integer("type_vocab_size", 2, 1, int64_t{1} << 16);
    if (j.contains("position_embedding_type") &&
        j["position_embedding_type"] != nlohmann::json("absolute"))
      throw ModelError(path + ": position_embedding_type " + j["position_embedding_type"].dump() +
                       " is not supported (expected \"absolute\")");
  }
  if (f.layout == Layout::MPNet) {
    // transformers buckets with 32 whatever the table's size (compute_position_bias's default).
    e.relative_buckets = 32;
    const int64_t rows = r.integer("relative_attention_num_buckets", 32, 1, 4096);
    if (rows != 32)
      throw ModelError(path + ": relative_attention_num_buckets " + std::to_string(rows) +
                       " is not supported (MPNet's position bias uses 32 buckets)");
  }
  // MPNetEmbeddings numbers positions from a padding_idx of 1 whatever pad_token_id says.
  if (f.padding_offset_positions)
    p.padding_idx =
        f.layout == Layout::MPNet ? 1 : r.integer("pad_token_id", 1, 0, p.info.vocab_size - 1);
  if (e.hidden_size % e.num_heads != 0)
    throw ModelError(path + ": hidden size " + std::to_string(e.hidden_size) +
                     " is not a multiple of the attention head count " +
                     std::to_string(e.num_heads));
  p.info.hidden_size = e.hidden_size;
  p.info.num_layers = e.num_layers;
  p.info.num_heads = e.num_heads;
  p.info.intermediate_size = e.intermediate_size;
  // RoBERTa-style numbering spends the first padding_idx + 1 rows of the table.
  p.info.max_tokens = p.padding_idx >= 0 ? p.max_positions - p.padding_idx - 1 : p.max_positions;
  if (p.info.max_tokens < 1)
    throw ModelError(path + ": max_position_embeddings " + std::to_string(p.max_positions) +
                     " leaves no position after pad_token_id " + std::to_string(p.padding_idx));
  return p;
}

LayerKeys layer_keys(Layout layout) {
  switch (layout) {
    case Layout::Bert:
      return {"encoder.layer.{}.",    "attention.self.query",   "attention.self.key",
              "attention.self.value", "attention.output.dense", "attention.output.LayerNorm",
              "intermediate.dense",   "output.dense",           "output.LayerNorm"};
    case Layout::DistilBert:
      return {"transformer.layer.{}.", "attention.q_lin", "attention.k_lin", "attention.v_lin",
              "attention.out_lin",     "sa_layer_norm",   "ffn.lin1",        "ffn.lin2",
              "output_layer_norm"};
    case Layout::MPNet:
      return {"encoder.layer.{}.",  "attention.attn.q", "attention.attn.k",
              "attention.attn.v",   "attention.attn.o", "attention.LayerNorm",
              "intermediate.dense", "output.dense",     "output.LayerNorm"};
  }
  return {};
}

}  // namespace

// ---- the model ------------------------------------------------------------------------------

struct TextTransformer::Impl {
  TextModelInfo info;
  Precision precision = Precision::F32;
  Embeddings embeddings;
  std::unique_ptr<Encoder> encoder;

  // Runs the model; returns the last hidden states [T, h] and the row offset of each sequence.
  torch::Tensor forward(const std::vector<std::vector<int32_t>>& seqs,
                        std::vector<int64_t>& offsets) const;
};

TextTransformer::TextTransformer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextTransformer::TextTransformer(TextTransformer&&) noexcept = default;
TextTransformer& TextTransformer::operator=(TextTransformer&&) noexcept = default;
TextTransformer::~TextTransformer() = default;

const TextModelInfo& TextTransformer::info() const {
  return impl_->info;
}
Precision TextTransformer::precision() const {
  return impl_->precision;
}

std::string TextTransformer::precision_path() const {
  return impl_->encoder->precision_path();
}
double TextTransformer::linear_flops(int64_t tokens) const {
  return impl_->encoder->linear_flops(tokens);
}

const std::vector<std::pair<std::string, std::string>>& TextTransformer::supported_model_types() {
  static const auto list = [] {
    std::vector<std::pair<std::string, std::string>> l;
    for (const auto& f : families())
      l.emplace_back(f.model_type, std::string(f.name) + " (" + f.examples + ")");
    return l;
  }();
  return list;
}

TextTransformer TextTransformer::load(const nlohmann::json& config, const std::string& config_path,
                                      const std::string& weights, Precision precision) {
  use_caching_tensor_allocator();
  c10::InferenceMode guard;
  const Family& family = family_of(config, config_path);
  const Parsed p = parse_config(family, config, config_path);
  auto impl = std::make_unique<Impl>();
  impl->info = p.info;
  impl->precision = precision;

  WeightLoader w(SafeTensorsFile::open(weights), family.prefixes);
  const int64_t h = p.encoder.hidden_size;
  Embeddings& e = impl->embeddings;
  e.word = w.take("embeddings.word_embeddings.weight", {p.info.vocab_size, h}).contiguous();
  e.position = w.take("embeddings.position_embeddings.weight", {p.max_positions, h}).contiguous();
  if (p.type_vocab_size > 0)
    e.token_type0 =
        w.take("embeddings.token_type_embeddings.weight", {p.type_vocab_size, h})[0].contiguous();
  e.norm_weight = w.take("embeddings.LayerNorm.weight", {h});
  e.norm_bias = w.take("embeddings.LayerNorm.bias", {h});
  e.padding_idx = p.padding_idx;
  e.eps = p.encoder.layer_norm_eps;
  impl->encoder = std::make_unique<Encoder>(p.encoder, w, layer_keys(family.layout),
                                            "encoder.relative_attention_bias.weight");
  // Buffers and heads a sentence encoder does not use.
  w.ignore("embeddings\\.position_ids");
  w.ignore("embeddings\\.token_type_ids");
  w.ignore("pooler\\..*");
  w.ignore("cls\\..*");
  w.ignore("lm_head\\..*");
  w.ignore("vocab_(transform|layer_norm|projector)\\..*");  // DistilBertForMaskedLM
  w.finish();

  impl->encoder->set_precision(precision);
  return TextTransformer(std::move(impl));
}

torch::Tensor TextTransformer::Impl::forward(const std::vector<std::vector<int32_t>>& seqs,
                                             std::vector<int64_t>& offsets) const {
  const int64_t h = info.hidden_size;
  offsets.assign(seqs.size() + 1, 0);
  for (size_t b = 0; b < seqs.size(); ++b) {
    const int64_t len = static_cast<int64_t>(seqs[b].size());
    if (len == 0) throw std::invalid_argument("sequence " + std::to_string(b) + " is empty");
    if (len > info.max_tokens)
      throw std::invalid_argument("sequence " + std::to_string(b) + " has " + std::to_string(len) +
                                  " tokens; the model takes at most " +
                                  std::to_string(info.max_tokens));
    for (int32_t id : seqs[b])
      if (id < 0 || id >= info.vocab_size)
        throw std::invalid_argument("token id " + std::to_string(id) +
                                    " is outside the vocabulary of " +
                                    std::to_string(info.vocab_size));
    offsets[b + 1] = offsets[b] + len;
  }
  const int64_t T = offsets.back();

  // Embeddings, one row per real token. RoBERTa-style positions count the non-pad tokens from
  // padding_idx + 1; a pad token sits at padding_idx and does not advance the count.
  torch::Tensor x = torch::empty({T, h});
  float* xp = x.data_ptr<float>();
  const Embeddings& e = embeddings;
  const float* wp = e.word.data_ptr<float>();
  const float* pp = e.position.data_ptr<float>();
  const float* tp = e.token_type0.defined() ? e.token_type0.data_ptr<float>() : nullptr;
  for (size_t b = 0; b < seqs.size(); ++b) {
    int64_t counted = 0;
    for (size_t t = 0; t < seqs[b].size(); ++t) {
      const int32_t id = seqs[b][t];
      int64_t position = static_cast<int64_t>(t);
      if (e.padding_idx >= 0) position = id == e.padding_idx ? id : e.padding_idx + ++counted;
      float* row = xp + (offsets[b] + static_cast<int64_t>(t)) * h;
      const float* wr = wp + static_cast<int64_t>(id) * h;
      const float* pr = pp + position * h;
      if (tp)
        for (int64_t i = 0; i < h; ++i) row[i] = wr[i] + pr[i] + tp[i];
      else
        for (int64_t i = 0; i < h; ++i) row[i] = wr[i] + pr[i];
    }
  }
  const kernels::Kernels& k = kernels::table();
  at::parallel_for(0, T, std::max<int64_t>(1, 16384 / h), [&](int64_t r0, int64_t r1) {
    k.residual_layernorm(xp + r0 * h, nullptr, nullptr, e.norm_weight.data_ptr<float>(),
                         e.norm_bias.data_ptr<float>(), r1 - r0, h, e.eps);
  });
  encoder->forward(x, offsets);
  return x;
}

std::vector<float> TextTransformer::hidden_states(
    const std::vector<std::vector<int32_t>>& seqs) const {
  c10::InferenceMode guard;
  std::vector<int64_t> offsets;
  torch::Tensor x = impl_->forward(seqs, offsets);
  const float* p = x.data_ptr<float>();
  return std::vector<float>(p, p + x.numel());
}

std::vector<float> TextTransformer::encode(const std::vector<std::vector<int32_t>>& seqs,
                                           const std::vector<TextPooling>& poolings) const {
  if (poolings.empty()) throw std::invalid_argument("no pooling mode given");
  c10::InferenceMode guard;
  std::vector<int64_t> offsets;
  torch::Tensor x = impl_->forward(seqs, offsets);
  const int64_t h = impl_->info.hidden_size;
  const int64_t width = h * static_cast<int64_t>(poolings.size());
  std::vector<float> out(seqs.size() * static_cast<size_t>(width));
  const float* xp = x.data_ptr<float>();
  for (size_t b = 0; b < seqs.size(); ++b) {
    const float* rows = xp + offsets[b] * h;
    const int64_t len = offsets[b + 1] - offsets[b];
    for (size_t m = 0; m < poolings.size(); ++m) {
      float* o = out.data() + static_cast<int64_t>(b) * width + static_cast<int64_t>(m) * h;
      switch (poolings[m]) {
        case TextPooling::Cls:
          std::copy(rows, rows + h, o);
          break;
        case TextPooling::LastToken:
          std::copy(rows + (len - 1) * h, rows + len * h, o);
          break;
        case TextPooling::Max:
          std::copy(rows, rows + h, o);
          for (int64_t t = 1; t < len; ++t)
            for (int64_t i = 0; i < h; ++i) o[i] = std::max(o[i], rows[t * h + i]);
          break;
        case TextPooling::Mean:
        case TextPooling::MeanSqrtLen: {
          std::fill(o, o + h, 0.0f);
          for (int64_t t = 0; t < len; ++t)
            for (int64_t i = 0; i < h; ++i) o[i] += rows[t * h + i];
          const float n = static_cast<float>(len);
          const float div = poolings[m] == TextPooling::Mean ? n : std::sqrt(n);
          for (int64_t i = 0; i < h; ++i) o[i] /= div;
          break;
        }
        case TextPooling::WeightedMean: {
          // sentence-transformers weighs the token at position t (from 0) by t + 1: later
          // tokens count more (SGPT's weighted mean for causal models).
          std::fill(o, o + h, 0.0f);
          for (int64_t t = 0; t < len; ++t) {
            const float w = static_cast<float>(t + 1);
            for (int64_t i = 0; i < h; ++i) o[i] += w * rows[t * h + i];
          }
          const float total = 0.5f * static_cast<float>(len) * static_cast<float>(len + 1);
          for (int64_t i = 0; i < h; ++i) o[i] /= total;
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace embedflow::models
