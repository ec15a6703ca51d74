// The tokenizer of a model folder, giving the ids Hugging Face `tokenizers` gives (the library
// behind every *TokenizerFast, and so behind sentence-transformers and CLIPTokenizerFast).
//
// Tokenizer::from_folder reads, in this order:
//   - tokenizer.json: normalizer, pre-tokenizer, model (WordPiece, BPE, Unigram), post-processor
//     and added tokens, each as HF reads them (components.h lists the parts; a part or option
//     not implemented is a TokenizerConfigError naming its JSON path, never an approximation);
//   - vocab.txt (+ tokenizer_config.json): the BERT family, built as BertTokenizerFast converts it;
//   - vocab.json + merges.txt (+ tokenizer_config.json): byte-level BPE, built as HF converts
//     GPT-2/RoBERTa (and CLIP, when tokenizer_config.json names CLIPTokenizer);
//   - a SentencePiece model (*.model), read with libsentencepiece, built as HF converts XLM-R.
//
// encode() is one sequence: added tokens (special ones included) are matched in the text, the
// rest is normalised, pre-tokenised and split by the model, truncated to `max_length` ids with
// room kept for the special tokens, then the post-processor adds them. Offsets are byte ranges of
// the UTF-8 text given.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/tokenizers/components.h"

namespace embedflow::tokenizers {

// A token HF calls "added": matched in the raw (or normalised) text before the model runs.
struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

class Tokenizer {
 public:
  // max_length values: kNoLimit applies only the tokenizer.json's own truncation (if any), as
  // HF's encode does; kNoTruncation not even that.
  static constexpr size_t kNoLimit = static_cast<size_t>(-1);
  static constexpr size_t kNoTruncation = static_cast<size_t>(-2);

  // A tokenizer.json's text; `file` names it in errors.
  static std::shared_ptr<const Tokenizer> from_json(const std::string& json_text,
                                                    const std::string& file);
  static std::shared_ptr<const Tokenizer> from_file(const std::string& tokenizer_json);
  // An already parsed tokenizer.json (the folder loaders build one for folders without it).
  static std::shared_ptr<const Tokenizer> from_json_value(const Json& root,
                                                          const std::string& file);
  // A model folder (see the header comment). Throws TokenizerConfigError.
  static std::shared_ptr<const Tokenizer> from_folder(const std::string& dir);

  // Ids, type ids, offsets and special-token mask of one text. `max_length` counts the special
  // tokens (HF's truncation=True, max_length=N). Throws std::invalid_argument for invalid UTF-8.
  Encoding encode(std::string_view text, size_t max_length = kNoLimit,
                  bool add_special_tokens = true) const;
  std::vector<int32_t> encode_ids(std::string_view text, size_t max_length = kNoLimit,
                                  bool add_special_tokens = true) const {
    return encode(text, max_length, add_special_tokens).ids;
  }

  // Vocabulary, added tokens included (HF's get_vocab_size(with_added_tokens=True)).
  size_t vocab_size() const;
  int32_t token_to_id(std::string_view token) const;  // -1 when absent
  std::string id_to_token(int32_t id) const;          // "" when absent
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  // The truncation length the tokenizer.json sets (null truncation: nullopt).
  std::optional<size_t> truncation() const { return truncation_; }
  // Token ids the post-processor adds, and the pad id if the file names one (-1 otherwise).
  int32_t pad_id() const { return pad_id_; }
  const std::string& source() const { return source_; }

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  // Assembled by the loaders (tokenizer.cpp, folder_loaders.cpp).
  struct Parts {
    std::unique_ptr<Normalizer> normalizer;
    std::unique_ptr<PreTokenizer> pre_tokenizer;
    std::unique_ptr<Model> model;
    std::unique_ptr<PostProcessor> post_processor;
    std::vector<AddedToken> added;
    std::optional<size_t> truncation;
    int32_t pad_id = -1;
    std::string source;
  };
  explicit Tokenizer(Parts parts);

  struct Matcher;  // the added tokens' leftmost-longest matcher (tokenizer.cpp)

 private:
  void encode_piece(const NormalizedText& piece, std::vector<Token>& out) const;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::vector<AddedToken> added_;
  std::unique_ptr<Matcher> raw_matcher_, normalized_matcher_;
  std::optional<size_t> truncation_;
  int32_t pad_id_ = -1;
  std::string source_;
};

}  // namespace embedflow::tokenizers
