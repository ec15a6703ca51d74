// A BERT encoder (Hugging Face BertModel layout) for inference: post-LN transformer layers,
// exact-erf GELU, no dropout. Sequences are packed without padding: a batch is one [tokens,
// hidden] matrix, every Linear is one GEMM over all real tokens, and attention runs per
// sequence (per (sequence, head) when a batch has too few sequences to share out) on its own
// rows, so no FLOP is spent on padding and no mask is needed. Torch-free interface (pimpl).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace embedflow::models {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  std::string hidden_act = "gelu";  // gelu (erf), gelu_new / gelu_pytorch_tanh (tanh), relu
  double layer_norm_eps = 1e-12;

  // A Hugging Face config.json; throws ModelError naming the file and the key when the
  // architecture is not BERT or a value is unusable. `path` is for messages.
  static BertConfig from_json(const nlohmann::json& j, const std::string& path);
};

enum class BertPooling { Cls, Max, Mean, MeanSqrtLen };
const char* bert_pooling_name(BertPooling p);

// fp32 runs the reference numerics; int8 quantises every Linear's weights per output channel
// once and its input activations per token at run time (dynamic quantisation, 7-bit rows),
// on oneDNN's u8·s8 GEMM, each int32 result dequantised inside the pass that consumes it
// (libtorch's quantized Linear when libdnnl-dev is absent).
enum class BertPrecision { F32, Int8 };

class BertModel {
 public:
  // Reads `weights` (safetensors; keys with or without the "bert." prefix). Throws ModelError
  // listing every missing, unexpected or mis-shaped tensor.
  static BertModel load(const std::string& weights, const BertConfig& config,
                        BertPrecision precision = BertPrecision::F32);
  BertModel(BertModel&&) noexcept;
  BertModel& operator=(BertModel&&) noexcept;
  ~BertModel();

  const BertConfig& config() const;
  BertPrecision precision() const;

  // Pooled embeddings of each sequence of token ids ([CLS] … [SEP]), one block of hidden_size
  // floats per pooling mode, concatenated in the order given (sentence-transformers concatenates
  // cls, max, mean, mean_sqrt_len in that order). Returns [n_seqs × hidden × poolings] floats,
  // row-major. Runs on the calling thread with its current intra-op thread count. Thread-safe.
  // Throws std::invalid_argument for an empty sequence, one longer than the position table, or
  // a token id outside the vocabulary.
  std::vector<float> encode(const std::vector<std::vector<int32_t>>& seqs,
                            const std::vector<BertPooling>& poolings) const;
  // Last hidden states of all tokens, sequences one after another: [Σ len × hidden].
  std::vector<float> hidden_states(const std::vector<std::vector<int32_t>>& seqs) const;

 private:
  struct Impl;
  explicit BertModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// FLOPs of the Linear layers for `tokens` real tokens (2·m·n·k per GEMM), the work a perfect
// implementation cannot avoid; the benchmark's roofline divides it by the measured GEMM peak.
double bert_linear_flops(const BertConfig& config, int64_t tokens);
// Sustained single-precision GEMM throughput of libtorch on this machine, in GFLOP/s, for
// [m × k] · [k × n] at the calling thread's intra-op thread count (best of `repeats`).
double measure_gemm_gflops(int64_t m, int64_t n, int64_t k, int repeats = 5);

}  // namespace embedflow::models
