// A text transformer read from a Hugging Face model folder's config.json and weights: BERT,
// RoBERTa, XLM-RoBERTa, DistilBERT or MPNet, picked by config.json's model_type. Each family
// is its embeddings (word + position [+ token type], LayerNorm) in front of the one encoder core
// (models/transformer/encoder.h), with its own parameter names; pooling over the last hidden
// states is here too. Torch-free interface (pimpl).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/encoder.h"

namespace embedflow::models {

enum class TextPooling { Cls, Max, Mean, MeanSqrtLen, WeightedMean, LastToken };
// sentence-transformers' names: cls, max, mean, mean_sqrt_len, weightedmean, lasttoken.
const char* text_pooling_name(TextPooling p);

// What a loaded model is, for messages and describe().
struct TextModelInfo {
  std::string family;      // "BERT", "RoBERTa", "XLM-RoBERTa", "DistilBERT", "MPNet"
  std::string model_type;  // config.json's
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  int64_t max_tokens = 0;  // the longest sequence the position table allows
};

class TextTransformer {
 public:
  // The model_type values load() accepts, and what each is.
  static const std::vector<std::pair<std::string, std::string>>& supported_model_types();

  // `config` is config.json (read from `config_path`, named in messages); `weights` a
  // safetensors file, with or without the architecture's key prefix ("bert.", "roberta.", …).
  // Throws ModelError naming the file and the key for an unsupported model_type (listing the
  // supported ones), an unusable value, and every missing, unexpected or mis-shaped tensor.
  static TextTransformer load(const nlohmann::json& config, const std::string& config_path,
                              const std::string& weights, Precision precision = Precision::F32);
  TextTransformer(TextTransformer&&) noexcept;
  TextTransformer& operator=(TextTransformer&&) noexcept;
  ~TextTransformer();

  const TextModelInfo& info() const;
  Precision precision() const;
  // The precision and what runs it here (transformer::Encoder::precision_path).
  std::string precision_path() const;

  // Pooled embeddings of each sequence of token ids (specials included), one block of
  // hidden_size floats per pooling mode, concatenated in the order given. Returns
  // [n_seqs × hidden × poolings] floats, row-major. Runs on the calling thread with its current
  // intra-op thread count. Thread-safe. Throws std::invalid_argument for an empty sequence, one
  // longer than max_tokens, or a token id outside the vocabulary.
  std::vector<float> encode(const std::vector<std::vector<int32_t>>& seqs,
                            const std::vector<TextPooling>& poolings) const;
  // Last hidden states of all tokens, sequences one after another: [Σ len × hidden].
  std::vector<float> hidden_states(const std::vector<std::vector<int32_t>>& seqs) const;

  // FLOPs of the Linear layers for `tokens` real tokens (benchmarks' roofline).
  double linear_flops(int64_t tokens) const;

 private:
  struct Impl;
  explicit TextTransformer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sustained single-precision throughput of the encoders' fp32 GEMM (transformer::Linear's) on
// this machine, in GFLOP/s, for [m × k] · [k × n] at the calling thread's intra-op thread
// count (best of `repeats`): the roofline the benchmarks divide the Linear layers' FLOPs by.
double measure_gemm_gflops(int64_t m, int64_t n, int64_t k, int repeats = 5);

}  // namespace embedflow::models
