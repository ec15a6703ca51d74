// Sentence embeddings from a sentence-transformers (or bare Hugging Face BERT) model folder,
// without YAML:
//
//   auto enc = embedflow::TextEncoder::load("all-MiniLM-L6-v2");
//   embedflow::Tensor e = enc.encode({"The weather is lovely today.", "It's so sunny outside!"});
//   embedflow::Tensor s = embedflow::cosine(e, e);  // models/similarity.h
//
// Parity with SentenceTransformer(folder).encode(texts): each text is stripped of surrounding
// whitespace (Python's str.strip), tokenised by BertTokenizerFast's algorithm, truncated to
// max_seq_length, run through BertModel, pooled as 1_Pooling/config.json says and L2-normalised
// when the folder has a Normalize module. Torch-free header.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embedflow/tensor.h"

namespace embedflow {

struct TextEncoderOptions {
  std::optional<int64_t> max_seq_length;  // default: sentence_bert_config.json
  // Pooling modes, concatenated in the order cls, max, mean, mean_sqrt_len ("cls", "max",
  // "mean", "mean_sqrt_len"); default: 1_Pooling/config.json, or mean for a bare BERT folder.
  std::vector<std::string> pooling;
  std::optional<bool> normalize;   // default: whether the folder has a Normalize module
  std::string precision = "fp32";  // "fp32" (exact) or "int8" (dynamic quantisation)
  int threads = 0;                 // threads for encode() and each embed(); 0: leave as set
  int64_t batch_size = 32;         // encode(): sequences per forward pass, longest first
};

class TextEncoder {
 public:
  // Throws models::ModelError naming the file and what was expected (unsupported
  // architecture or module, missing tokenizer, wrong tensor shapes, …).
  static TextEncoder load(const std::string& path, TextEncoderOptions options = {});
  TextEncoder(TextEncoder&&) noexcept;
  TextEncoder& operator=(TextEncoder&&) noexcept;
  ~TextEncoder();

  // [texts.size(), dim()] float32. Sorts by token count and runs batches of batch_size (as
  // sentence-transformers does; the rows come back in input order). With at least two batches
  // per thread, the batches run side by side, one per thread (each forward single-threaded:
  // no barriers inside it, ~5–10% more throughput than one batch at a time on all threads);
  // otherwise one at a time on all threads. Throws std::invalid_argument naming the index of
  // a text that is not valid UTF-8.
  Tensor encode(const std::vector<std::string>& texts) const;

  // The two halves of encode(), for callers that batch themselves (the encode.text stage):
  // token ids of one text ([CLS] … [SEP], truncated; throws std::invalid_argument on invalid
  // UTF-8), and the embeddings [n, dim()] of token sequences run as one forward pass.
  std::vector<int32_t> tokenize(const std::string& text) const;
  Tensor embed(const std::vector<std::vector<int32_t>>& token_ids) const;

  int64_t dim() const;  // hidden size × number of pooling modes
  int64_t hidden_size() const;
  int64_t max_seq_length() const;
  bool normalizes() const;
  const std::vector<std::string>& pooling() const;
  const std::string& precision() const;
  // "BERT 6×384 (12 heads), vocab 30522, max_seq_length 256, pooling mean, normalize, fp32".
  std::string describe() const;
  // FLOPs of the Linear layers for `tokens` tokens (benchmarks' roofline).
  double linear_flops(int64_t tokens) const;

 private:
  struct Impl;
  explicit TextEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedflow
