// Internals shared by the model implementations (models.cpp, model_*.cpp,
// sentencepiece_model.cpp): a compact string -> index table, UTF-8 helpers, and
// the concrete model constructors the factories and the SentencePiece loader
// call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/tokenizers/components.h"

namespace embedflow::tokenizers::detail {

// Appends the UTF-8 encoding of `c`.
inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// A piece as UTF-8, with the byte offset where each code point starts (size() +
// 1 entries, the last one the total length): the models work on bytes as HF
// does, and report code point ranges.
struct Utf8Piece {
  std::string bytes;
  std::vector<uint32_t> char_start;

  explicit Utf8Piece(const NormalizedText& piece) {
    bytes.reserve(piece.size());
    char_start.reserve(piece.size() + 1);
    for (char32_t c : piece.chars) {
      char_start.push_back(static_cast<uint32_t>(bytes.size()));
      append_utf8(bytes, c);
    }
    char_start.push_back(static_cast<uint32_t>(bytes.size()));
  }
  size_t chars() const { return char_start.size() - 1; }
};

// Walks increasing byte ranges of a piece and turns each into the original byte
// range of the code points it touches (HF aligns every byte of a code point
// with the code point's original range).
class OffsetMapper {
 public:
  OffsetMapper(const NormalizedText& piece, const Utf8Piece& utf8) : piece_(piece), utf8_(utf8) {}
  Token token(int32_t id, size_t begin, size_t end) {
    size_t first = char_at(begin);
    size_t last = char_at(end - 1);
    auto [s, e] = piece_.original_range(first, last + 1);
    return Token{id, s, e};
  }

 private:
  // Index of the code point holding byte `b`; amortised O(1) for increasing
  // `b`.
  size_t char_at(size_t b) {
    const auto& cs = utf8_.char_start;
    if (cs[cursor_] > b) cursor_ = 0;
    while (cursor_ + 1 < cs.size() && cs[cursor_ + 1] <= b) ++cursor_;
    return cursor_;
  }
  const NormalizedText& piece_;
  const Utf8Piece& utf8_;
  size_t cursor_ = 0;
};

// A JSON integer >= 0 (parsed JSON makes those unsigned, code-built JSON may
// not).
inline bool non_negative_integer(const Json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

// Strings to dense indices: an open-addressing table of indices into a vector
// of strings.
class StringTable {
 public:
  void reserve(size_t n) { strings_.reserve(n); }
  // Index of `s`, adding it when absent.
  uint32_t intern(std::string_view s, bool* added = nullptr);
  // Index of `s`, or -1.
  int64_t find(std::string_view s) const;
  const std::string& at(size_t index) const { return strings_[index]; }
  size_t size() const { return strings_.size(); }

 private:
  void grow();
  std::vector<std::string> strings_;
  std::vector<uint32_t> slots_;  // index + 1, 0 = empty
};

// A vocabulary of token -> id with arbitrary ids (BPE, WordPiece, WordLevel
// read a JSON object).
class Vocab {
 public:
  // Reads {"token": id, ...}; errors name `site`.
  static Vocab from_json(const Json& object, const JsonSite& site);
  int32_t id(std::string_view token) const {
    int64_t i = table_.find(token);
    return i < 0 ? -1 : ids_[static_cast<size_t>(i)];
  }
  const std::string* token(int32_t id) const;
  size_t size() const { return table_.size(); }

 private:
  StringTable table_;
  std::vector<int32_t> ids_;    // per table index
  std::vector<int32_t> by_id_;  // id -> table index (-1 = none)
};

// The concrete models.
std::unique_ptr<Model> make_bpe_model(const Json& value, const JsonSite& site);
std::unique_ptr<Model> make_wordpiece_model(const Json& value, const JsonSite& site);
std::unique_ptr<Model> make_wordlevel_model(const Json& value, const JsonSite& site);
std::unique_ptr<Model> make_unigram_model(const Json& value, const JsonSite& site);

// A Unigram model from its pieces and scores (the SentencePiece loader's way
// in). Throws std::invalid_argument for an unk_id outside the vocabulary.
std::unique_ptr<Model> make_unigram(std::vector<std::pair<std::string, double>> vocab,
                                    std::optional<size_t> unk_id, bool byte_fallback);

}  // namespace embedflow::tokenizers::detail
