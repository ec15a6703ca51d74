// Sentence embeddings from a sentence-transformers (or bare Hugging Face) model folder of any
// supported text family (BERT, RoBERTa, XLM-RoBERTa, DistilBERT, MPNet: models/transformer/
// text_model.h), without YAML:
//
//   auto model = embedflow::models::SentenceTransformer::load("all-MiniLM-L6-v2");
//   embedflow::Tensor e = model->encode({"The weather is lovely today.", "It's so sunny!"});
//   embedflow::Tensor s = embedflow::cosine(e, e);  // models/similarity.h
//
// Parity with SentenceTransformer(folder).encode(texts, prompt_name=…): the prompt is put in
// front of each text, which is stripped of surrounding whitespace (Python's str.strip),
// tokenised as the folder's tokenizer says (models/tokenizers/), truncated to max_seq_length,
// run through the transformer, pooled as 1_Pooling/config.json says, passed through any Dense
// modules and L2-normalised when the folder has a Normalize module. A TextEncoder
// (models/encoder.h). Torch-free header.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embedflow/tensor.h"
#include "models/encoder.h"

namespace embedflow::models {

struct SentenceTransformerOptions {
  std::optional<int64_t> max_seq_length;  // default: sentence_bert_config.json
  // Pooling modes, concatenated in the order cls, max, mean, mean_sqrt_len, weightedmean,
  // lasttoken; default: 1_Pooling/config.json, or mean for a bare transformers folder.
  std::vector<std::string> pooling;
  // Text put in front of every text (sentence-transformers' `prompt`), or the name of one of
  // config_sentence_transformers.json's prompts (`prompt_name`, e.g. "query"); at most one of
  // the two. Neither: the file's default_prompt_name, if it has one.
  std::string prompt;
  std::string prompt_name;
  std::optional<bool> normalize;   // default: whether the folder has a Normalize module
  std::string precision = "fp32";  // "fp32" (exact) or "int8" (dynamic quantisation)
  int threads = 0;                 // encode(texts): threads in all; 0: the calling thread's
  int64_t batch_size = 32;         // encode(texts): sequences per forward pass, longest first
};

class SentenceTransformer : public TextEncoder {
 public:
  // Throws ModelError naming the file and what was expected (unsupported architecture or
  // module, missing tokenizer, wrong tensor shapes, …).
  static std::shared_ptr<const SentenceTransformer> load(
      const std::string& path, const SentenceTransformerOptions& options = {});
  ~SentenceTransformer() override;
  SentenceTransformer(const SentenceTransformer&) = delete;
  SentenceTransformer& operator=(const SentenceTransformer&) = delete;

  // The contract, for callers that batch themselves (the encode.text stage): token ids of one
  // text ([CLS] … [SEP], truncated; throws std::invalid_argument on invalid UTF-8), and the
  // embeddings [n, dim()] of token sequences run as one forward pass.
  TokenIds tokenize(const std::string& text) const override;
  Tensor encode(const std::vector<TokenIds>& texts, int threads) const override;

  // All of sentence-transformers' encode(texts): [texts.size(), dim()] float32. Sorts by token
  // count and runs batches of batch_size (the rows come back in input order). With at least two
  // batches per thread, the batches run side by side, one per thread (each forward
  // single-threaded: no barriers inside it, ~5–10% more throughput than one batch at a time on
  // all threads); otherwise one at a time on all threads. Throws std::invalid_argument naming
  // the index of a text that is not valid UTF-8.
  Tensor encode(const std::vector<std::string>& texts) const;

  int64_t dim() const override;  // the last Dense's width, else hidden size × pooling modes
  int64_t hidden_size() const;
  int64_t max_seq_length() const;
  bool normalizes() const;
  const std::vector<std::string>& pooling() const;
  const std::string& precision() const;
  const std::string& prompt() const;  // what is put in front of each text ("" for none)
  // config_sentence_transformers.json's prompts, by name.
  const std::vector<std::pair<std::string, std::string>>& prompts() const;
  // What the folder left to defaults that a user should know (no modules.json: mean pooling and
  // no normalisation, as sentence-transformers warns too). Empty for a complete folder.
  const std::vector<std::string>& warnings() const;
  // "BERT 6x384 (12 heads), vocab 30522, max_seq_length 256, pooling mean, normalize, fp32".
  std::string describe() const override;
  // FLOPs of the Linear layers for `tokens` tokens (benchmarks' roofline).
  double linear_flops(int64_t tokens) const;

 private:
  struct Impl;
  explicit SentenceTransformer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedflow::models
