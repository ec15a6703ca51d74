// BPE, as HF's models/bpe (model.rs merge_word, word.rs merge_all) tokenizes:
// symbols of one word in a linked list, merged lowest rank first (then
// leftmost) from a binary heap of adjacent pairs, so a word of n code points
// costs O(n log n).
#include <algorithm>
#include <array>
#include <cstdio>
#include <mutex>
#include <optional>
#include <queue>
#include <stdexcept>

#include "models/tokenizers/components.h"
#include "models/tokenizers/models_internal.h"

namespace embedflow::tokenizers::detail {
namespace {

// (left id, right id) -> (rank, merged id): open addressing on the packed pair.
class PairTable {
 public:
  struct Entry {
    uint64_t key;
    uint32_t rank;
    int32_t id;
  };
  void build(const std::vector<Entry>& entries) {
    size_t capacity = 16;
    while (capacity < entries.size() * 2) capacity *= 2;
    slots_.assign(capacity, Entry{kEmpty, 0, 0});
    for (const Entry& e : entries) {
      size_t h = slot(e.key);
      while (slots_[h].key != kEmpty && slots_[h].key != e.key) h = (h + 1) & (capacity - 1);
      slots_[h] = e;  // a repeated pair keeps its last rank, as HF's HashMap
                      // collect does
    }
  }
  const Entry* find(int32_t a, int32_t b) const {
    uint64_t key = pack(a, b);
    for (size_t h = slot(key);; h = (h + 1) & (slots_.size() - 1)) {
      if (slots_[h].key == key) return &slots_[h];
      if (slots_[h].key == kEmpty) return nullptr;
    }
  }
  static uint64_t pack(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are < 2^31, so never a real key
  size_t slot(uint64_t key) const {
    key *= 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(key >> 32) & (slots_.size() - 1);
  }
  std::vector<Entry> slots_;
};

struct Symbol {
  int32_t id;
  int32_t prev, next;
  uint32_t len;  // bytes of the word; 0 once merged into its left neighbour
};

struct MergeItem {
  uint32_t rank;
  uint32_t pos;
  int32_t new_id;
  // std::priority_queue pops the largest: "larger" = lower rank, then lower
  // position.
  bool operator<(const MergeItem& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

using Symbols = std::vector<std::pair<int32_t, uint32_t>>;  // (id, byte length)

// HF keeps merged words of fewer than 256 bytes, up to 10,000 of them. Ours is
// split in shards, each behind its own mutex, so concurrent callers rarely
// meet; full shards stop taking words.
class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 256;
  static constexpr size_t kCapacity = 10000;

  bool get(const std::string& word, Symbols& out) const {
    const Shard& s = shard(word);
    std::lock_guard<std::mutex> lock(s.mutex);
    int64_t i = s.keys.find(word);
    if (i < 0) return false;
    out = s.values[static_cast<size_t>(i)];
    return true;
  }
  void put(const std::string& word, const Symbols& symbols) {
    Shard& s = shard(word);
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.keys.size() >= kCapacity / kShards) return;
    bool added = false;
    s.keys.intern(word, &added);
    if (added) s.values.push_back(symbols);
  }

 private:
  static constexpr size_t kShards = 32;
  struct Shard {
    mutable std::mutex mutex;
    StringTable keys;
    std::vector<Symbols> values;
  };
  Shard& shard(const std::string& w) { return shards_[std::hash<std::string>{}(w) % kShards]; }
  const Shard& shard(const std::string& w) const {
    return shards_[std::hash<std::string>{}(w) % kShards];
  }
  std::array<Shard, kShards> shards_;
};

struct BpeOptions {
  std::optional<std::string> unk, prefix, suffix;
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
};

class Bpe final : public Model {
 public:
  Bpe(Vocab vocab, std::vector<PairTable::Entry> merges, BpeOptions o)
      : vocab_(std::move(vocab)), o_(std::move(o)) {
    merges_.build(merges);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      byte_ids_[b] = vocab_.id(name);
    }
  }

  void tokenize(const NormalizedText& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    Utf8Piece w(piece);
    if (o_.ignore_merges) {
      int32_t id = vocab_.id(w.bytes);
      if (id >= 0) {
        auto [b, e] = piece.original_range(0, piece.size());
        out.push_back(Token{id, b, e});
        return;
      }
    }
    Symbols symbols;
    bool cacheable = w.bytes.size() < WordCache::kMaxWordBytes;
    if (!cacheable || !cache_.get(w.bytes, symbols)) {
      merge_word(w, symbols);
      if (cacheable) cache_.put(w.bytes, symbols);
    }
    OffsetMapper map(piece, w);
    size_t pos = 0;
    for (auto [id, len] : symbols) {
      out.push_back(map.token(id, pos, pos + len));
      pos += len;
    }
  }

  int32_t token_to_id(std::string_view token) const override { return vocab_.id(token); }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  int32_t unk_id() const {
    int32_t id = vocab_.id(*o_.unk);
    if (id < 0)
      throw std::invalid_argument("BPE: unk token \"" + *o_.unk + "\" is not in the vocabulary");
    return id;
  }

  void merge_word(const Utf8Piece& w, Symbols& result) const {
    std::vector<Symbol> sym;
    sym.reserve(w.chars());
    auto add = [&sym](int32_t id, uint32_t len) {
      int32_t n = static_cast<int32_t>(sym.size());
      if (n > 0) sym.back().next = n;
      sym.push_back(Symbol{id, n - 1, -1, len});
    };
    // Pending unknown: HF holds it back until the next known symbol (fusing
    // runs when asked).
    int32_t unk = -1;
    uint32_t unk_len = 0;
    std::string s;
    const size_t n = w.chars();
    for (size_t i = 0; i < n; ++i) {
      std::string_view c(w.bytes.data() + w.char_start[i], w.char_start[i + 1] - w.char_start[i]);
      const uint32_t byte_len = static_cast<uint32_t>(c.size());
      s.clear();
      if (i > 0 && o_.prefix) s += *o_.prefix;
      s += c;
      if (i + 1 == n && o_.suffix) s += *o_.suffix;
      int32_t id = vocab_.id(s);
      if (id >= 0) {
        if (unk >= 0) {
          add(unk, unk_len);
          unk = -1;
        }
        add(id, byte_len);
        continue;
      }
      if (o_.byte_fallback) {
        bool all = true;
        for (unsigned char b : s) all = all && byte_ids_[b] >= 0;
        if (all) {
          // As HF: bytes of the whole string (prefix and suffix included), each
          // 1 byte long, and a pending unknown stays pending.
          for (unsigned char b : s) add(byte_ids_[b], 1);
          continue;
        }
      }
      if (o_.unk) {
        if (unk >= 0 && o_.fuse_unk) {
          unk_len += byte_len;
        } else {
          if (unk >= 0) add(unk, unk_len);
          unk = unk_id();
          unk_len = byte_len;
        }
      }
      // No unk token: HF drops the symbol.
    }
    if (unk >= 0) add(unk, unk_len);

    std::priority_queue<MergeItem> queue;
    for (size_t i = 0; i + 1 < sym.size(); ++i)
      if (const auto* m = merges_.find(sym[i].id, sym[i + 1].id))
        queue.push(MergeItem{m->rank, static_cast<uint32_t>(i), m->id});
    while (!queue.empty()) {
      MergeItem top = queue.top();
      queue.pop();
      Symbol& left = sym[top.pos];
      if (left.len == 0 || left.next < 0) continue;
      const Symbol right = sym[static_cast<size_t>(left.next)];
      // Stale entries are recognised as HF does: by the merged id the pair now
      // gives.
      const auto* m = merges_.find(left.id, right.id);
      if (!m || m->id != top.new_id) continue;
      sym[static_cast<size_t>(left.next)].len = 0;
      left.id = top.new_id;
      left.len += right.len;
      left.next = right.next;
      if (right.next >= 0)
        sym[static_cast<size_t>(right.next)].prev = static_cast<int32_t>(top.pos);
      if (left.prev >= 0) {
        if (const auto* p = merges_.find(sym[static_cast<size_t>(left.prev)].id, left.id))
          queue.push(MergeItem{p->rank, static_cast<uint32_t>(left.prev), p->id});
      }
      if (left.next >= 0) {
        if (const auto* p = merges_.find(left.id, sym[static_cast<size_t>(left.next)].id))
          queue.push(MergeItem{p->rank, top.pos, p->id});
      }
    }
    result.clear();
    for (const Symbol& x : sym)
      if (x.len != 0) result.emplace_back(x.id, x.len);
  }

  Vocab vocab_;
  PairTable merges_;
  BpeOptions o_;
  std::array<int32_t, 256> byte_ids_{};
  mutable WordCache cache_;
};

std::optional<std::string> optional_string(const Json& value, const char* key,
                                           const JsonSite& site) {
  auto it = value.find(key);
  if (it == value.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) site.at(key).fail("expected a string or null");
  return it->get<std::string>();
}

bool optional_bool(const Json& value, const char* key, const JsonSite& site) {
  auto it = value.find(key);
  if (it == value.end() || it->is_null()) return false;
  if (!it->is_boolean()) site.at(key).fail("expected a boolean or null");
  return it->get<bool>();
}

}  // namespace

std::unique_ptr<Model> make_bpe_model(const Json& value, const JsonSite& site) {
  reject_unknown_fields(value,
                        {"dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
                         "fuse_unk", "byte_fallback", "ignore_merges", "vocab", "merges"},
                        site);
  if (auto d = value.find("dropout"); d != value.end() && !d->is_null()) {
    if (!d->is_number()) site.at("dropout").fail("expected a number or null");
    double p = d->get<double>();
    if (p < 0.0 || p > 1.0) site.at("dropout").fail("dropout must be between 0 and 1");
    if (p != 0.0)
      site.at("dropout").fail("BPE dropout is random; only null or 0 gives reproducible ids");
  }
  BpeOptions o;
  o.unk = optional_string(value, "unk_token", site);
  o.prefix = optional_string(value, "continuing_subword_prefix", site);
  o.suffix = optional_string(value, "end_of_word_suffix", site);
  o.fuse_unk = optional_bool(value, "fuse_unk", site);
  o.byte_fallback = optional_bool(value, "byte_fallback", site);
  o.ignore_merges = optional_bool(value, "ignore_merges", site);

  auto v = value.find("vocab");
  auto m = value.find("merges");
  if (v == value.end() || m == value.end()) site.fail("missing vocab/merges");
  Vocab vocab = Vocab::from_json(*v, site.at("vocab"));
  const JsonSite msite = site.at("merges");
  if (!m->is_array()) msite.fail("expected an array of merges");

  // Both layouts: ["a b", ...] (lines of merges.txt, "#version" lines skipped)
  // and [["a", "b"]].
  bool pairs = std::all_of(m->begin(), m->end(), [](const Json& x) {
    return x.is_array() && x.size() == 2 && x[0].is_string() && x[1].is_string();
  });
  const size_t prefix_len = o.prefix ? o.prefix->size() : 0;
  std::vector<PairTable::Entry> entries;
  entries.reserve(m->size());
  std::string merged;
  uint32_t rank = 0;
  for (size_t i = 0; i < m->size(); ++i) {
    const Json& x = (*m)[i];
    std::string a, b;
    if (pairs) {
      a = x[0].get<std::string>();
      b = x[1].get<std::string>();
    } else {
      if (!x.is_string()) msite.at(i).fail("expected \"a b\" or [\"a\", \"b\"] (all merges alike)");
      const std::string& line = x.get_ref<const std::string&>();
      if (line.rfind("#version", 0) == 0) continue;
      size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
        msite.at(i).fail("a merge must be two tokens separated by one space");
      a = line.substr(0, sp);
      b = line.substr(sp + 1);
    }
    int32_t a_id = vocab.id(a), b_id = vocab.id(b);
    if (a_id < 0) msite.at(i).fail("merge token \"" + a + "\" is not in the vocabulary");
    if (b_id < 0) msite.at(i).fail("merge token \"" + b + "\" is not in the vocabulary");
    if (b.size() < prefix_len) msite.at(i).fail("merge token shorter than the subword prefix");
    merged.assign(a);
    merged.append(b, prefix_len);
    int32_t id = vocab.id(merged);
    if (id < 0) msite.at(i).fail("merged token \"" + merged + "\" is not in the vocabulary");
    entries.push_back({PairTable::pack(a_id, b_id), rank++, id});
  }
  return std::make_unique<Bpe>(std::move(vocab), std::move(entries), std::move(o));
}

}  // namespace embedflow::tokenizers::detail
