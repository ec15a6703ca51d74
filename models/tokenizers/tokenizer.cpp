// The tokenizer pipeline (tokenizer.h): added tokens, then normaliser, pre-tokenizer, model,
// truncation and post-processor, in HF's order; and the reading of a tokenizer.json.
#include "models/tokenizers/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <malloc.h>

#include <utf8proc.h>

namespace embedflow::tokenizers {

namespace {

utf8proc_category_t category(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

// Rust regex's \w (what HF's single_word test uses): alphabetic, marks, decimal digits,
// connector punctuation and the joiners.
bool is_word_char(char32_t c) {
  if (c < 0x80)
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  if (c == 0x200C || c == 0x200D) return true;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// Unicode White_Space (Rust's char::is_whitespace and regex's \s).
bool is_white_space(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenizerConfigError(path, "", "cannot read the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// Leftmost-longest matching of a set of patterns (code points), as HF's Aho-Corasick
// (MatchKind::LeftmostLongest) finds added tokens. Patterns are few and short: a trie walked
// from each position is as fast as an automaton here, and positions whose first code point
// starts no pattern are skipped with one lookup.
struct Tokenizer::Matcher {
  struct Node {
    std::unordered_map<char32_t, uint32_t> next;
    int32_t token = -1;  // index into the tokenizer's added_ list
  };
  std::vector<Node> nodes{1};

  bool empty() const { return nodes[0].next.empty(); }

  void add(const std::u32string& pattern, int32_t token) {
    if (pattern.empty()) return;
    uint32_t n = 0;
    for (char32_t c : pattern) {
      auto it = nodes[n].next.find(c);
      if (it == nodes[n].next.end()) {
        nodes.emplace_back();
        it = nodes[n].next.emplace(c, static_cast<uint32_t>(nodes.size() - 1)).first;
      }
      n = it->second;
    }
    // The first token given keeps a pattern two tokens share (HF builds the automaton from the
    // special tokens first, then the others, and Aho-Corasick reports the first pattern).
    if (nodes[n].token < 0) nodes[n].token = token;
  }

  // The longest pattern starting at `pos`: {length, token}, or {0, -1}.
  std::pair<size_t, int32_t> longest_at(const std::u32string& s, size_t pos) const {
    uint32_t n = 0;
    std::pair<size_t, int32_t> best{0, -1};
    for (size_t i = pos; i < s.size(); ++i) {
      auto it = nodes[n].next.find(s[i]);
      if (it == nodes[n].next.end()) break;
      n = it->second;
      if (nodes[n].token >= 0) best = {i + 1 - pos, nodes[n].token};
    }
    return best;
  }
};

Tokenizer::Tokenizer(Parts parts)
    : normalizer_(std::move(parts.normalizer)),
      pre_tokenizer_(std::move(parts.pre_tokenizer)),
      model_(std::move(parts.model)),
      post_processor_(std::move(parts.post_processor)),
      added_(std::move(parts.added)),
      raw_matcher_(std::make_unique<Matcher>()),
      normalized_matcher_(std::make_unique<Matcher>()),
      truncation_(parts.truncation),
      pad_id_(parts.pad_id),
      source_(std::move(parts.source)) {
  // Special tokens first, then the others, each group in file order (HF's order).
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < added_.size(); ++i) {
      const AddedToken& t = added_[i];
      if (t.special != (pass == 0)) continue;
      NormalizedText content = NormalizedText::from_utf8(t.content);
      if (t.normalized) {
        if (normalizer_) normalizer_->normalize(content);
        normalized_matcher_->add(content.chars, static_cast<int32_t>(i));
      } else {
        raw_matcher_->add(content.chars, static_cast<int32_t>(i));
      }
    }
  }
}

Tokenizer::~Tokenizer() = default;

namespace {

// A piece of the text after added-token matching: normal text, or one added token.
struct Split {
  NormalizedText text;
  int32_t token = -1;  // index into added tokens
};

}  // namespace

// Splits `text` around the added tokens `matcher` finds, honouring single_word, lstrip and
// rstrip as HF's AddedVocabulary::find_matches does (within this piece of text).
static void split_on_added(const NormalizedText& text, const Tokenizer::Matcher& matcher,
                           const std::vector<AddedToken>& added, std::vector<Split>& out) {
  const std::u32string& s = text.chars;
  if (matcher.empty() || s.empty()) {
    out.push_back({text, -1});
    return;
  }
  size_t emitted = 0;  // text before this position has been emitted
  size_t pos = 0;
  while (pos < s.size()) {
    auto [len, token] = matcher.longest_at(s, pos);
    if (token < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;  // non-overlapping, like find_iter
    const AddedToken& t = added[static_cast<size_t>(token)];
    if (t.single_word) {
      bool word_before = start > 0 && is_word_char(s[start - 1]);
      bool word_after = stop < s.size() && is_word_char(s[stop]);
      if (word_before || word_after) continue;
    }
    if (t.lstrip) {
      size_t new_start = start;
      while (new_start > 0 && is_white_space(s[new_start - 1])) --new_start;
      start = std::max(new_start, emitted);
    }
    if (t.rstrip) {
      while (stop < s.size() && is_white_space(s[stop])) ++stop;
      pos = stop;
    }
    if (emitted < start) out.push_back({text.slice(emitted, start), -1});
    out.push_back({text.slice(start, stop), token});
    emitted = stop;
  }
  if (emitted < s.size()) out.push_back({text.slice(emitted, s.size()), -1});
}

void Tokenizer::encode_piece(const NormalizedText& piece, std::vector<Token>& out) const {
  if (!pre_tokenizer_) {
    if (!piece.empty()) model_->tokenize(piece, out);
    return;
  }
  thread_local std::vector<NormalizedText> words;
  size_t base = words.size();  // encode_piece does not recurse, but keep the stack discipline
  pre_tokenizer_->split(piece, words);
  for (size_t i = base; i < words.size(); ++i)
    if (!words[i].empty()) model_->tokenize(words[i], out);
  words.resize(base);
}

Encoding Tokenizer::encode(std::string_view text, size_t max_length,
                           bool add_special_tokens) const {
  NormalizedText whole = NormalizedText::from_utf8(text);  // throws on invalid UTF-8

  std::vector<Token> tokens;
  std::vector<Split> raw_splits;
  split_on_added(whole, *raw_matcher_, added_, raw_splits);
  std::vector<Split> splits;
  for (auto& raw : raw_splits) {
    if (raw.token >= 0) {
      splits.push_back(std::move(raw));
      continue;
    }
    if (normalizer_) normalizer_->normalize(raw.text);
    split_on_added(raw.text, *normalized_matcher_, added_, splits);
  }
  for (const auto& split : splits) {
    if (split.token >= 0) {
      const AddedToken& t = added_[static_cast<size_t>(split.token)];
      auto range = split.text.empty() ? std::pair<uint32_t, uint32_t>{0, 0}
                                      : split.text.original_range(0, split.text.size());
      tokens.push_back({t.id, range.first, range.second});
    } else if (!split.text.empty()) {
      encode_piece(split.text, tokens);
    }
  }

  // Truncation keeps room for what the post-processor adds, as HF's post_process does.
  size_t limit = max_length == kNoTruncation ? kNoLimit
                 : max_length == kNoLimit    ? truncation_.value_or(kNoLimit)
                                             : max_length;
  size_t added = add_special_tokens && post_processor_ ? post_processor_->added_tokens() : 0;
  if (limit != kNoLimit) {
    size_t keep = limit > added ? limit - added : 0;
    if (tokens.size() > keep) tokens.resize(keep);
  }

  Encoding enc;
  enc.ids.reserve(tokens.size() + added);
  enc.offsets.reserve(tokens.size() + added);
  for (const auto& t : tokens) {
    enc.ids.push_back(t.id);
    enc.offsets.emplace_back(t.start, t.end);
  }
  enc.type_ids.assign(enc.ids.size(), 0);
  enc.special.assign(enc.ids.size(), 0);
  // Without special tokens, only a post-processor that adds none (ByteLevel) still runs, for
  // its offset trimming.
  if (post_processor_ && (add_special_tokens || post_processor_->added_tokens() == 0))
    post_processor_->process(enc, *model_, text);
  return enc;
}

size_t Tokenizer::vocab_size() const {
  size_t n = model_->vocab_size();
  size_t extra = 0;
  for (const auto& t : added_)
    if (t.id >= 0 && static_cast<size_t>(t.id) >= n) ++extra;
  return n + extra;
}

int32_t Tokenizer::token_to_id(std::string_view token) const {
  for (const auto& t : added_)
    if (t.content == token) return t.id;
  return model_->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  for (const auto& t : added_)
    if (t.id == id) return t.content;
  const std::string* s = model_->id_to_token(id);
  return s ? *s : std::string();
}

std::shared_ptr<const Tokenizer> Tokenizer::from_json(const std::string& json_text,
                                                      const std::string& file) {
  std::shared_ptr<const Tokenizer> tokenizer;
  {
    Json root;
    try {
      root = Json::parse(json_text);
    } catch (const Json::parse_error& e) {
      throw TokenizerConfigError(file, "", std::string("not valid JSON: ") + e.what());
    }
    tokenizer = from_json_value(root, file);
  }
  // A large vocabulary is parsed into hundreds of thousands of small JSON nodes, freed by now;
  // glibc keeps their pages (a 250,000-piece Unigram file left 110 MB resident for a 45 MB
  // model). Give them back once, at load.
  if (json_text.size() > (1u << 20)) malloc_trim(0);
  return tokenizer;
}

std::shared_ptr<const Tokenizer> Tokenizer::from_json_value(const Json& root,
                                                            const std::string& file) {
  JsonSite site{file, ""};
  require_object(root, site);
  reject_unknown_fields(root,
                        {"version", "truncation", "padding", "added_tokens", "normalizer",
                         "pre_tokenizer", "post_processor", "decoder", "model"},
                        site);

  Parts parts;
  parts.source = file;
  auto component = [&](std::string_view key) -> const Json* {
    if (!root.contains(key)) return nullptr;
    const Json& v = root[std::string(key)];
    return v.is_null() ? nullptr : &v;
  };
  if (const Json* v = component("normalizer"))
    parts.normalizer = make_normalizer(*v, site.at("normalizer"));
  if (const Json* v = component("pre_tokenizer"))
    parts.pre_tokenizer = make_pre_tokenizer(*v, site.at("pre_tokenizer"));
  parts.model = make_model(require_field(root, "model", site), site.at("model"));
  if (const Json* v = component("post_processor"))
    parts.post_processor = make_post_processor(*v, site.at("post_processor"));

  if (const Json* v = component("truncation")) {
    JsonSite at = site.at("truncation");
    require_object(*v, at);
    reject_unknown_fields(*v, {"max_length", "strategy", "stride", "direction"}, at);
    const Json& ml = require_field(*v, "max_length", at);
    if (!is_non_negative_integer(ml)) at.at("max_length").fail("expected a non-negative integer");
    if (v->contains("direction") && (*v)["direction"] != "Right")
      at.at("direction").fail("only right-side truncation is supported (\"Right\")");
    parts.truncation = ml.get<size_t>();
  }
  if (const Json* v = component("padding")) {
    if (v->is_object() && v->contains("pad_id") && is_token_id((*v)["pad_id"]))
      parts.pad_id = (*v)["pad_id"].get<int32_t>();
  }

  if (const Json* v = component("added_tokens")) {
    JsonSite list_site = site.at("added_tokens");
    if (!v->is_array()) list_site.fail("expected a list of added tokens");
    for (size_t i = 0; i < v->size(); ++i) {
      JsonSite at = list_site.at(i);
      const Json& o = require_object((*v)[i], at);
      reject_unknown_fields(
          o, {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"}, at);
      AddedToken t;
      t.content = string_field(o, "content", at);
      const Json& id = require_field(o, "id", at);
      if (!is_token_id(id)) at.at("id").fail("expected a non-negative integer");
      t.id = id.get<int32_t>();
      t.special = bool_field(o, "special", at, false);
      t.single_word = bool_field(o, "single_word", at, false);
      t.lstrip = bool_field(o, "lstrip", at, false);
      t.rstrip = bool_field(o, "rstrip", at, false);
      t.normalized = bool_field(o, "normalized", at, !t.special);
      if (t.content.empty()) continue;  // HF ignores empty added tokens
      // A token the model already has keeps the model's id, as HF's AddedVocabulary assigns it.
      int32_t model_id = parts.model->token_to_id(t.content);
      if (model_id >= 0) t.id = model_id;
      parts.added.push_back(std::move(t));
    }
  }
  return std::make_shared<const Tokenizer>(std::move(parts));
}

std::shared_ptr<const Tokenizer> Tokenizer::from_file(const std::string& tokenizer_json) {
  return from_json(read_file(tokenizer_json), tokenizer_json);
}

}  // namespace embedflow::tokenizers
