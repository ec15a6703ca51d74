// Unigram, as HF's models/unigram (model.rs encode_optimized) tokenizes: a
// Viterbi pass over the piece's bytes, candidates from a prefix search in a
// trie of the vocabulary, unknown code points scored min_score - 10,
// consecutive unknowns fused, then byte fallback or the unk id.
//
// The trie is an array of nodes whose children are contiguous and sorted by
// byte (built level by level from the sorted vocabulary), so an XLM-R
// vocabulary (250k pieces) takes a few MB.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "models/tokenizers/components.h"
#include "models/tokenizers/models_internal.h"

namespace embedflow::tokenizers::detail {
namespace {

class Trie {
 public:
  // `keys[i]` has value `values[i]`; keys must be distinct.
  void build(const std::vector<std::string_view>& keys, const std::vector<int32_t>& values) {
    std::vector<uint32_t> order(keys.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return keys[a] < keys[b]; });
    label_.assign(1, 0);
    first_.assign(1, 0);
    count_.assign(1, 0);
    value_.assign(1, -1);
    struct Work {
      uint32_t node, lo, hi, depth;
    };
    std::vector<Work> queue{{0, 0, static_cast<uint32_t>(order.size()), 0}};
    for (size_t q = 0; q < queue.size(); ++q) {
      Work w = queue[q];
      uint32_t lo = w.lo;
      if (lo < w.hi && keys[order[lo]].size() == w.depth) {
        if (w.node != 0) value_[w.node] = values[order[lo]];  // HF never matches ""
        ++lo;
      }
      first_[w.node] = static_cast<uint32_t>(label_.size());
      while (lo < w.hi) {
        uint8_t c = static_cast<uint8_t>(keys[order[lo]][w.depth]);
        uint32_t hi = lo;
        while (hi < w.hi && static_cast<uint8_t>(keys[order[hi]][w.depth]) == c) ++hi;
        uint32_t child = static_cast<uint32_t>(label_.size());
        label_.push_back(c);
        first_.push_back(0);
        count_.push_back(0);
        value_.push_back(-1);
        ++count_[w.node];
        queue.push_back({child, lo, hi, w.depth + 1});
        lo = hi;
      }
      if (queue.size() > 4096 && q > queue.size() / 2) {  // keep the work list small
        queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(q + 1));
        q = static_cast<size_t>(-1);
      }
    }
    label_.shrink_to_fit();
    first_.shrink_to_fit();
    count_.shrink_to_fit();
    value_.shrink_to_fit();
  }

  // Calls f(length, value) for every key that is a prefix of `s`, shortest
  // first.
  template <typename F>
  void prefixes(std::string_view s, F&& f) const {
    uint32_t node = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const uint8_t c = static_cast<uint8_t>(s[i]);
      const uint8_t* begin = label_.data() + first_[node];
      const uint8_t* end = begin + count_[node];
      const uint8_t* it = std::lower_bound(begin, end, c);
      if (it == end || *it != c) return;
      node = static_cast<uint32_t>(it - label_.data());
      if (value_[node] >= 0) f(i + 1, value_[node]);
    }
  }

 private:
  std::vector<uint8_t> label_;
  std::vector<uint32_t> first_;
  std::vector<uint16_t> count_;  // at most 256 children
  std::vector<int32_t> value_;
};

class Unigram final : public Model {
 public:
  Unigram(std::vector<std::pair<std::string, double>> vocab, std::optional<size_t> unk_id,
          bool byte_fallback)
      : unk_id_(unk_id ? static_cast<int32_t>(*unk_id) : -1), byte_fallback_(byte_fallback) {
    if (unk_id && vocab.empty())
      throw std::invalid_argument("the vocabulary is empty but at least <unk> is needed");
    if (unk_id && *unk_id >= vocab.size())
      throw std::invalid_argument("unk_id is larger than the vocabulary size");
    pieces_.reserve(vocab.size());
    scores_.reserve(vocab.size());
    table_.reserve(vocab.size());
    for (size_t i = 0; i < vocab.size(); ++i) {
      auto& [piece, score] = vocab[i];
      min_score_ = std::min(min_score_, score);
      // A repeated piece maps to its last id, as HF's token_to_ids does.
      bool added = false;
      uint32_t k = table_.intern(piece, &added);
      if (added)
        key_id_.push_back(static_cast<int32_t>(i));
      else
        key_id_[k] = static_cast<int32_t>(i);
      pieces_.push_back(std::move(piece));
      scores_.push_back(score);
    }
    std::vector<std::string_view> keys(table_.size());
    for (size_t k = 0; k < table_.size(); ++k) keys[k] = table_.at(k);
    trie_.build(keys, key_id_);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      byte_ids_[b] = token_to_id(name);
    }
  }

  void tokenize(const NormalizedText& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    Utf8Piece w(piece);
    const std::string& s = w.bytes;
    const size_t size = s.size();
    const double unk_score = min_score_ - 10.0;
    struct Best {
      int32_t id = 0;
      double score = 0.0;
      int64_t starts_at = -1;
    };
    std::vector<Best> best(size + 1);
    for (size_t c = 0; c < w.chars(); ++c) {
      const size_t at = w.char_start[c];
      const size_t mblen = w.char_start[c + 1] - at;
      const double here = best[at].score;
      bool single = false;
      trie_.prefixes(std::string_view(s).substr(at), [&](size_t len, int32_t id) {
        Best& target = best[at + len];
        double candidate = scores_[static_cast<size_t>(id)] + here;
        if (target.starts_at < 0 || candidate > target.score) {
          target = Best{id, candidate, static_cast<int64_t>(at)};
        }
        if (len == mblen) single = true;
      });
      if (!single) {
        Best& target = best[at + mblen];
        double candidate = unk_score + here;
        if (target.starts_at < 0 || candidate > target.score) {
          if (unk_id_ < 0) throw std::invalid_argument("Unigram: unknown character and no unk_id");
          target = Best{unk_id_, candidate, static_cast<int64_t>(at)};
        }
      }
    }
    // Back from the end; consecutive unk nodes fuse into one string.
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // byte ranges, last first
    int64_t fused_end = -1, fused_begin = -1;
    for (size_t end = size; end > 0;) {
      const Best& node = best[end];
      const size_t start = static_cast<size_t>(node.starts_at);
      if (unk_id_ >= 0 && node.id == unk_id_) {
        if (fused_end < 0) fused_end = static_cast<int64_t>(end);
        fused_begin = static_cast<int64_t>(start);
      } else {
        if (fused_end >= 0) {
          ranges.emplace_back(fused_begin, fused_end);
          fused_end = -1;
        }
        ranges.emplace_back(start, end);
      }
      end = start;
    }
    if (fused_end >= 0) ranges.emplace_back(fused_begin, fused_end);
    OffsetMapper map(piece, w);
    for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
      const auto [b, e] = *it;
      std::string_view str(s.data() + b, e - b);
      int32_t id = token_to_id(str);
      if (id < 0) {
        if (byte_fallback_) {
          bool all = true;
          for (unsigned char c : str) all = all && byte_ids_[c] >= 0;
          if (all) {
            Token t = map.token(0, b, e);
            for (unsigned char c : str) out.push_back(Token{byte_ids_[c], t.start, t.end});
            continue;
          }
        }
        if (unk_id_ < 0) throw std::invalid_argument("Unigram: unknown piece and no unk_id");
        id = unk_id_;
      }
      out.push_back(map.token(id, b, e));
    }
  }

  int32_t token_to_id(std::string_view token) const override {
    int64_t k = table_.find(token);
    return k < 0 ? -1 : key_id_[static_cast<size_t>(k)];
  }
  const std::string* id_to_token(int32_t id) const override {
    if (id < 0 || static_cast<size_t>(id) >= pieces_.size()) return nullptr;
    return &pieces_[static_cast<size_t>(id)];
  }
  size_t vocab_size() const override { return pieces_.size(); }

 private:
  std::vector<std::string> pieces_;
  std::vector<double> scores_;
  StringTable table_;            // distinct pieces
  std::vector<int32_t> key_id_;  // table index -> id (the last id of a repeated piece)
  Trie trie_;
  double min_score_ = std::numeric_limits<double>::infinity();
  int32_t unk_id_;
  bool byte_fallback_;
  std::array<int32_t, 256> byte_ids_{};
};

}  // namespace

std::unique_ptr<Model> make_unigram(std::vector<std::pair<std::string, double>> vocab,
                                    std::optional<size_t> unk_id, bool byte_fallback) {
  return std::make_unique<Unigram>(std::move(vocab), unk_id, byte_fallback);
}

std::unique_ptr<Model> make_unigram_model(const Json& value, const JsonSite& site) {
  reject_unknown_fields(value, {"vocab", "unk_id", "byte_fallback"}, site);
  auto v = value.find("vocab");
  if (v == value.end()) site.fail("missing vocab");
  const JsonSite vsite = site.at("vocab");
  if (!v->is_array()) vsite.fail("expected an array of [piece, score]");
  std::vector<std::pair<std::string, double>> vocab;
  vocab.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& e = (*v)[i];
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
      vsite.at(i).fail("expected [piece, score]");
    vocab.emplace_back(e[0].get<std::string>(), hf_json_f64(e[1].get<double>()));
  }
  std::optional<size_t> unk_id;
  if (auto u = value.find("unk_id"); u != value.end() && !u->is_null()) {
    uint64_t raw = 0;
    if (!non_negative_integer(*u, raw))
      site.at("unk_id").fail("expected an unsigned integer or null");
    unk_id = static_cast<size_t>(raw);
    if (vocab.empty())
      site.at("unk_id").fail("the vocabulary is empty but at least <unk> is needed");
    if (*unk_id >= vocab.size())
      site.at("unk_id").fail("unk_id is larger than the vocabulary size");
  }
  bool byte_fallback = false;
  if (auto b = value.find("byte_fallback"); b != value.end()) {
    if (!b->is_boolean()) site.at("byte_fallback").fail("expected a boolean");
    byte_fallback = b->get<bool>();
  }
  return make_unigram(std::move(vocab), unk_id, byte_fallback);
}

}  // namespace embedflow::tokenizers::detail
