// BERT's tokenizer: BasicTokenizer normalisation and splitting, then greedy longest-match
// WordPiece. Matches Hugging Face's BertTokenizerFast (the Rust `tokenizers` BertNormalizer,
// BertPreTokenizer and WordPiece model), which is what sentence-transformers runs:
//   1. clean text: drop NUL, U+FFFD and control/format/private-use characters (Cc, Cf, Co,
//      except \t \n \r); every whitespace character (incl. Unicode Zs/Zl/Zp) becomes ' '.
//   2. put spaces around CJK ideographs.
//   3. strip accents (NFD, drop Mn) — by default exactly when lower-casing.
//   4. lower-case, character by character (full mapping: U+0130 → "i" U+0307).
//   5. split on whitespace, isolate punctuation (ASCII symbols and Unicode P*).
//   6. WordPiece: longest vocabulary match first, "##" on continuation pieces, a word that
//      cannot be covered (or longer than 100 characters) becomes [UNK].
// The fast and the slow (Python) tokenizers differ in corner cases: the fast one keeps
// unassigned code points (Cn) and turns U+2028/U+2029 into spaces; we follow the fast one.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace embedflow::tokenizers {

struct WordPieceOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool lowercase = true;
  std::optional<bool> strip_accents;  // nullopt: strip exactly when lower-casing (BERT's rule)
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;

  bool strips_accents() const { return strip_accents.value_or(lowercase); }
};

class WordPieceTokenizer {
 public:
  // `vocab` maps token → id; the special tokens of `options` must be in it.
  WordPieceTokenizer(std::unordered_map<std::string, int32_t> vocab, WordPieceOptions options);

  // A vocab.txt (one token per line, id = line number).
  static WordPieceTokenizer from_vocab_file(const std::string& path, WordPieceOptions options);
  // A Hugging Face model folder: tokenizer.json (WordPiece model) if present, else vocab.txt;
  // tokenizer_config.json's do_lower_case / strip_accents / tokenize_chinese_chars override the
  // normaliser as BertTokenizerFast does (defaults true / null / true). Throws
  // std::runtime_error naming the file and what was expected.
  static WordPieceTokenizer from_folder(const std::string& dir);

  // Steps 1–5: the normalised words, as UTF-8. Throws std::invalid_argument on invalid UTF-8.
  std::vector<std::string> pre_tokenize(const std::string& text) const;
  // Word-piece ids without special tokens; stops after `max_pieces` pieces (a truncated
  // encoding only needs its head, so a 1 MB line costs what the first 254 tokens cost).
  std::vector<int32_t> tokenize_ids(const std::string& text,
                                    size_t max_pieces = std::numeric_limits<size_t>::max()) const;
  // Word-piece strings (for inspection and tests).
  std::vector<std::string> tokenize(const std::string& text) const;
  // [CLS] pieces [SEP], truncated to at most `max_length` ids (>= 2) like HF's truncation.
  std::vector<int32_t> encode(const std::string& text, size_t max_length) const;

  // -1 when absent.
  int32_t token_to_id(const std::string& token) const;
  const std::string& id_to_token(int32_t id) const;  // throws std::out_of_range
  size_t vocab_size() const { return id_to_token_.size(); }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  const WordPieceOptions& options() const { return options_; }

 private:
  // Appends the pieces of one normalised word; returns false once `max_pieces` is reached.
  bool word_pieces(const std::string& word, std::vector<int32_t>& out, size_t max_pieces) const;
  template <class Fn>
  void for_each_word(const std::string& text, Fn&& fn) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  WordPieceOptions options_;
  int32_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, unk_id_ = -1;
};

// Python's str.strip(): removes leading and trailing characters for which str.isspace() is true
// (category Zs, or bidirectional class WS, B or S) — what sentence-transformers applies to every
// input before tokenising. Invalid UTF-8 is left for the tokenizer to reject.
std::string strip_python_whitespace(const std::string& text);

}  // namespace embedflow::tokenizers
