// make_model: the "model" object of a tokenizer.json, read as HF's ModelWrapper
// reads it.
#include <limits>

#include "models/tokenizers/components.h"
#include "models/tokenizers/models_internal.h"

namespace embedflow::tokenizers {
namespace detail {

namespace {
size_t hash_of(std::string_view s) {
  return std::hash<std::string_view>{}(s);
}
}  // namespace

void StringTable::grow() {
  size_t capacity = slots_.empty() ? 16 : slots_.size() * 2;
  slots_.assign(capacity, 0);
  size_t mask = capacity - 1;
  for (size_t i = 0; i < strings_.size(); ++i) {
    size_t h = hash_of(strings_[i]) & mask;
    while (slots_[h] != 0) h = (h + 1) & mask;
    slots_[h] = static_cast<uint32_t>(i + 1);
  }
}

int64_t StringTable::find(std::string_view s) const {
  if (slots_.empty()) return -1;
  size_t mask = slots_.size() - 1;
  for (size_t h = hash_of(s) & mask;; h = (h + 1) & mask) {
    uint32_t slot = slots_[h];
    if (slot == 0) return -1;
    if (strings_[slot - 1] == s) return slot - 1;
  }
}

uint32_t StringTable::intern(std::string_view s, bool* added) {
  int64_t found = find(s);
  if (added) *added = found < 0;
  if (found >= 0) return static_cast<uint32_t>(found);
  if ((strings_.size() + 1) * 2 > slots_.size()) grow();
  strings_.emplace_back(s);
  size_t mask = slots_.size() - 1;
  size_t h = hash_of(s) & mask;
  while (slots_[h] != 0) h = (h + 1) & mask;
  slots_[h] = static_cast<uint32_t>(strings_.size());
  return static_cast<uint32_t>(strings_.size() - 1);
}

Vocab Vocab::from_json(const Json& object, const JsonSite& site) {
  if (!object.is_object()) site.fail("expected an object of token: id");
  Vocab v;
  v.table_.reserve(object.size());
  v.ids_.reserve(object.size());
  int64_t max_id = -1;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const Json& id = it.value();
    uint64_t raw = 0;
    if (!non_negative_integer(id, raw) || raw > static_cast<uint64_t>(INT32_MAX))
      site.at(it.key()).fail("expected a token id (an integer from 0 to 2^31-1)");
    bool added = false;
    uint32_t index = v.table_.intern(it.key(), &added);
    int32_t value = static_cast<int32_t>(raw);
    if (added)
      v.ids_.push_back(value);
    else
      v.ids_[index] = value;
    max_id = std::max<int64_t>(max_id, value);
  }
  // Ids index a dense table when that is not much larger than the vocabulary,
  // else a search.
  if (max_id >= 0 && static_cast<size_t>(max_id) < 4 * v.ids_.size() + 1024) {
    v.by_id_.assign(static_cast<size_t>(max_id) + 1, -1);
    for (size_t i = 0; i < v.ids_.size(); ++i) v.by_id_[v.ids_[i]] = static_cast<int32_t>(i);
  }
  return v;
}

const std::string* Vocab::token(int32_t id) const {
  if (id < 0) return nullptr;
  if (!by_id_.empty() || ids_.empty()) {
    if (static_cast<size_t>(id) >= by_id_.size() || by_id_[id] < 0) return nullptr;
    return &table_.at(static_cast<size_t>(by_id_[id]));
  }
  for (size_t i = 0; i < ids_.size(); ++i)
    if (ids_[i] == id) return &table_.at(i);
  return nullptr;
}

}  // namespace detail

namespace {

bool is_map(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_object();
}

// HF deserialises a model without "type" as the first of BPE, WordPiece,
// WordLevel, Unigram whose fields it finds (ModelUntagged, a serde untagged
// enum tried in that order).
std::string infer_type(const Json& value, const JsonSite& site) {
  if (is_map(value, "vocab") && value.contains("merges")) return "BPE";
  if (is_map(value, "vocab") && value.contains("unk_token") &&
      value.contains("continuing_subword_prefix") && value.contains("max_input_chars_per_word"))
    return "WordPiece";
  if (is_map(value, "vocab") && value.contains("unk_token")) return "WordLevel";
  auto vocab = value.find("vocab");
  if (vocab != value.end() && vocab->is_array()) return "Unigram";
  site.fail(
      "model without \"type\" matches none of BPE, WordPiece, WordLevel, "
      "Unigram");
}

}  // namespace

std::unique_ptr<Model> make_model(const Json& value, const JsonSite& site) {
  require_object(value, site);
  std::string type;
  auto t = value.find("type");
  if (t == value.end())
    type = infer_type(value, site);
  else if (t->is_string())
    type = t->get<std::string>();
  else
    site.at("type").fail("expected a string");
  if (type == "BPE") return detail::make_bpe_model(value, site);
  if (type == "WordPiece") return detail::make_wordpiece_model(value, site);
  if (type == "WordLevel") return detail::make_wordlevel_model(value, site);
  if (type == "Unigram") return detail::make_unigram_model(value, site);
  site.at("type").fail("unknown model type \"" + type + "\"");
}

}  // namespace embedflow::tokenizers
