// WordPiece and WordLevel, as HF's models/wordpiece and models/wordlevel
// tokenize.
#include <algorithm>
#include <stdexcept>

#include "models/tokenizers/components.h"
#include "models/tokenizers/models_internal.h"

namespace embedflow::tokenizers::detail {
namespace {

std::string required_string(const Json& value, const char* key, const JsonSite& site) {
  auto it = value.find(key);
  if (it == value.end()) site.fail(std::string("missing field \"") + key + "\"");
  if (!it->is_string()) site.at(key).fail("expected a string");
  return it->get<std::string>();
}

class WordPiece final : public Model {
 public:
  WordPiece(Vocab vocab, std::string unk, std::string prefix, size_t max_chars)
      : vocab_(std::move(vocab)),
        unk_(std::move(unk)),
        prefix_(std::move(prefix)),
        max_chars_(max_chars) {}

  // No token is longer than the longest vocabulary entry: the greedy search
  // starts there.
  void set_max_token_bytes(size_t n) { max_token_bytes_ = n; }

  void tokenize(const NormalizedText& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    if (piece.size() > max_chars_) return push_unk(piece, out);
    Utf8Piece w(piece);
    const std::string& s = w.bytes;
    size_t first_out = out.size();
    std::string buf;
    size_t start = 0;  // in code points
    const size_t n = w.chars();
    while (start < n) {
      // Longest match first: the end shrinks one code point at a time; ends
      // beyond the longest vocabulary entry cannot match and are skipped (same
      // result as trying them).
      size_t budget = max_token_bytes_;
      if (start > 0) budget = budget >= prefix_.size() ? budget - prefix_.size() : 0;
      size_t end = n;
      while (end > start && w.char_start[end] - w.char_start[start] > budget) --end;
      int32_t id = -1;
      for (; end > start; --end) {
        std::string_view sub(s.data() + w.char_start[start],
                             w.char_start[end] - w.char_start[start]);
        if (start > 0) {
          buf.assign(prefix_);
          buf.append(sub);
          id = vocab_.id(buf);
        } else {
          id = vocab_.id(sub);
        }
        if (id >= 0) break;
      }
      if (id < 0) {
        out.resize(first_out);
        return push_unk(piece, out);
      }
      auto [b, e] = piece.original_range(start, end);
      out.push_back(Token{id, b, e});
      start = end;
    }
  }

  int32_t token_to_id(std::string_view token) const override { return vocab_.id(token); }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  void push_unk(const NormalizedText& piece, std::vector<Token>& out) const {
    int32_t id = vocab_.id(unk_);
    if (id < 0)
      throw std::invalid_argument("WordPiece: unk token \"" + unk_ + "\" is not in the vocabulary");
    auto [b, e] = piece.original_range(0, piece.size());
    out.push_back(Token{id, b, e});
  }

  Vocab vocab_;
  std::string unk_, prefix_;
  size_t max_chars_;
  size_t max_token_bytes_ = static_cast<size_t>(-1);
};

class WordLevel final : public Model {
 public:
  WordLevel(Vocab vocab, std::string unk) : vocab_(std::move(vocab)), unk_(std::move(unk)) {}

  void tokenize(const NormalizedText& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    Utf8Piece w(piece);
    int32_t id = vocab_.id(w.bytes);
    if (id < 0) id = vocab_.id(unk_);
    if (id < 0)
      throw std::invalid_argument("WordLevel: unk token \"" + unk_ + "\" is not in the vocabulary");
    auto [b, e] = piece.original_range(0, piece.size());
    out.push_back(Token{id, b, e});
  }
  int32_t token_to_id(std::string_view token) const override { return vocab_.id(token); }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  Vocab vocab_;
  std::string unk_;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece_model(const Json& value, const JsonSite& site) {
  reject_unknown_fields(
      value, {"unk_token", "continuing_subword_prefix", "max_input_chars_per_word", "vocab"}, site);
  // HF's WordPiece visitor requires all four fields, "type" or not.
  std::string unk = required_string(value, "unk_token", site);
  std::string prefix = required_string(value, "continuing_subword_prefix", site);
  auto m = value.find("max_input_chars_per_word");
  if (m == value.end()) site.fail("missing field \"max_input_chars_per_word\"");
  uint64_t max_chars = 0;
  if (!non_negative_integer(*m, max_chars))
    site.at("max_input_chars_per_word").fail("expected an unsigned integer");
  auto v = value.find("vocab");
  if (v == value.end()) site.fail("missing field \"vocab\"");
  Vocab vocab = Vocab::from_json(*v, site.at("vocab"));
  size_t longest = 0;
  for (auto it = v->begin(); it != v->end(); ++it) longest = std::max(longest, it.key().size());
  auto model = std::make_unique<WordPiece>(std::move(vocab), std::move(unk), std::move(prefix),
                                           static_cast<size_t>(max_chars));
  model->set_max_token_bytes(longest);
  return model;
}

std::unique_ptr<Model> make_wordlevel_model(const Json& value, const JsonSite& site) {
  reject_unknown_fields(value, {"unk_token", "vocab"}, site);
  std::string unk = required_string(value, "unk_token", site);
  auto v = value.find("vocab");
  if (v == value.end()) site.fail("missing field \"vocab\"");
  return std::make_unique<WordLevel>(Vocab::from_json(*v, site.at("vocab")), std::move(unk));
}

}  // namespace embedflow::tokenizers::detail
