#include "models/tokenizers/wordpiece.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <utf8proc.h>
#include <nlohmann/json.hpp>

#include "models/tokenizers/unicode.h"

namespace embedflow::tokenizers {

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

utf8proc_category_t category(char32_t cp) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
}

// Unicode's White_Space property (what Rust's char::is_whitespace tests).
bool is_whitespace(char32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85) return true;
  auto c = category(cp);
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

// Control, format and private-use characters; \t \n \r count as whitespace instead.
bool is_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  auto c = category(cp);
  return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CO;
}

// The CJK Unified Ideographs blocks BERT pads with spaces (not Hangul, Hiragana or Katakana).
bool is_chinese_char(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// BERT counts every ASCII symbol as punctuation ($, +, ^, ` …), plus Unicode's P* categories.
bool is_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126))
    return true;
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

// Canonical decomposition with canonical ordering (NFD), then nonspacing marks dropped.
std::vector<char32_t> strip_accents(const std::vector<char32_t>& cps) {
  std::string utf8 = encode_utf8(cps);
  const auto* src = reinterpret_cast<const utf8proc_uint8_t*>(utf8.data());
  auto len = static_cast<utf8proc_ssize_t>(utf8.size());
  utf8proc_ssize_t need = utf8proc_decompose(src, len, nullptr, 0, UTF8PROC_DECOMPOSE);
  if (need < 0) throw std::invalid_argument(utf8proc_errmsg(need));
  std::vector<utf8proc_int32_t> buf(static_cast<size_t>(need));
  utf8proc_ssize_t n = utf8proc_decompose(src, len, buf.data(), need, UTF8PROC_DECOMPOSE);
  if (n < 0) throw std::invalid_argument(utf8proc_errmsg(n));
  std::vector<char32_t> out;
  out.reserve(static_cast<size_t>(n));
  for (utf8proc_ssize_t i = 0; i < n; ++i) {
    auto cp = static_cast<char32_t>(buf[static_cast<size_t>(i)]);
    if (category(cp) != UTF8PROC_CATEGORY_MN) out.push_back(cp);
  }
  return out;
}

// Per-character full lower-casing, as Rust's char::to_lowercase (no final-sigma context).
// utf8proc only has the simple mapping; U+0130 is the one character whose full lowercase
// mapping (SpecialCasing.txt, unconditional) differs from it.
void append_lower(std::vector<char32_t>& out, char32_t cp) {
  if (cp == 0x130) {
    out.push_back(U'i');
    out.push_back(0x307);
    return;
  }
  out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
}

Json read_json(const fs::path& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path.string() + ": cannot open");
  try {
    return Json::parse(f);
  } catch (const Json::exception& e) {
    throw std::runtime_error(path.string() + ": invalid JSON: " + e.what());
  }
}

// tokenizer_config.json writes special tokens as "[UNK]" or as {"content": "[UNK]", ...}.
void read_token(const Json& cfg, const char* key, std::string& out) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return;
  if (it->is_string())
    out = it->get<std::string>();
  else if (it->is_object() && it->contains("content"))
    out = (*it)["content"].get<std::string>();
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::unordered_map<std::string, int32_t> vocab,
                                       WordPieceOptions options)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab_) {
    if (id < 0) throw std::invalid_argument("vocabulary: negative id for token '" + token + "'");
    max_id = std::max(max_id, id);
  }
  id_to_token_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [token, id] : vocab_) id_to_token_[static_cast<size_t>(id)] = token;

  auto special = [&](const std::string& token, const char* role) {
    int32_t id = token_to_id(token);
    if (id < 0)
      throw std::invalid_argument(std::string("vocabulary has no ") + role + " token '" + token +
                                  "'");
    return id;
  };
  unk_id_ = special(options_.unk_token, "unknown");
  cls_id_ = special(options_.cls_token, "classifier (CLS)");
  sep_id_ = special(options_.sep_token, "separator (SEP)");
  pad_id_ = token_to_id(options_.pad_token);  // only used for display; may be absent
}

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path,
                                                       WordPieceOptions options) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open vocabulary file");
  std::unordered_map<std::string, int32_t> vocab;
  std::string line;
  int32_t id = 0;
  // Like HF's load_vocab: one token per line, the line number is the id, a later duplicate
  // wins the token → id mapping.
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab[line] = id++;
  }
  if (vocab.empty()) throw std::runtime_error(path + ": empty vocabulary file");
  try {
    return WordPieceTokenizer(std::move(vocab), std::move(options));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

WordPieceTokenizer WordPieceTokenizer::from_folder(const std::string& dir) {
  fs::path root(dir);
  WordPieceOptions opt;
  // BertTokenizerFast's constructor defaults, overridden by tokenizer_config.json; they
  // replace whatever tokenizer.json's normaliser says (HF rebuilds the normaliser from them).
  bool lowercase = true;
  std::optional<bool> strip;
  bool chinese = true;
  fs::path cfg_path = root / "tokenizer_config.json";
  if (fs::exists(cfg_path)) {
    Json cfg = read_json(cfg_path);
    if (cfg.contains("do_lower_case") && cfg["do_lower_case"].is_boolean())
      lowercase = cfg["do_lower_case"].get<bool>();
    if (cfg.contains("strip_accents") && cfg["strip_accents"].is_boolean())
      strip = cfg["strip_accents"].get<bool>();
    if (cfg.contains("tokenize_chinese_chars") && cfg["tokenize_chinese_chars"].is_boolean())
      chinese = cfg["tokenize_chinese_chars"].get<bool>();
    read_token(cfg, "unk_token", opt.unk_token);
    read_token(cfg, "cls_token", opt.cls_token);
    read_token(cfg, "sep_token", opt.sep_token);
    read_token(cfg, "pad_token", opt.pad_token);
    if (cfg.contains("tokenizer_class") && cfg["tokenizer_class"].is_string()) {
      std::string cls = cfg["tokenizer_class"].get<std::string>();
      if (cls != "BertTokenizer" && cls != "BertTokenizerFast")
        throw std::runtime_error(cfg_path.string() + ": tokenizer_class is '" + cls +
                                 "'; only BertTokenizer / BertTokenizerFast (WordPiece) are "
                                 "supported");
    }
  }
  opt.lowercase = lowercase;
  opt.strip_accents = strip;
  opt.handle_chinese_chars = chinese;

  fs::path tok_path = root / "tokenizer.json";
  if (fs::exists(tok_path)) {
    Json tok = read_json(tok_path);
    const Json& model = tok.contains("model") ? tok["model"] : Json();
    if (!model.is_object() || model.value("type", "") != "WordPiece" || !model.contains("vocab") ||
        !model["vocab"].is_object())
      throw std::runtime_error(tok_path.string() +
                               ": expected a WordPiece model (model.type \"WordPiece\" with a "
                               "vocab object), found model.type \"" +
                               (model.is_object() ? model.value("type", "?") : "?") + "\"");
    const Json& norm = tok.contains("normalizer") ? tok["normalizer"] : Json();
    if (norm.is_object()) {
      if (norm.value("type", "") != "BertNormalizer")
        throw std::runtime_error(tok_path.string() + ": normalizer type \"" +
                                 norm.value("type", "?") +
                                 "\" is not supported (expected "
                                 "BertNormalizer)");
      opt.clean_text = norm.value("clean_text", true);
    }
    const Json& pre = tok.contains("pre_tokenizer") ? tok["pre_tokenizer"] : Json();
    if (pre.is_object() && pre.value("type", "") != "BertPreTokenizer")
      throw std::runtime_error(tok_path.string() + ": pre_tokenizer type \"" +
                               pre.value("type", "?") +
                               "\" is not supported (expected BertPreTokenizer)");
    if (model.contains("unk_token") && model["unk_token"].is_string())
      opt.unk_token = model["unk_token"].get<std::string>();
    if (model.contains("continuing_subword_prefix") &&
        model["continuing_subword_prefix"].is_string())
      opt.continuing_subword_prefix = model["continuing_subword_prefix"].get<std::string>();
    if (model.contains("max_input_chars_per_word") &&
        model["max_input_chars_per_word"].is_number_unsigned())
      opt.max_input_chars_per_word = model["max_input_chars_per_word"].get<size_t>();
    std::unordered_map<std::string, int32_t> vocab;
    for (const auto& [token, id] : model["vocab"].items()) {
      if (!id.is_number_integer())
        throw std::runtime_error(tok_path.string() + ": model.vocab[\"" + token +
                                 "\"] is not an integer id");
      vocab[token] = id.get<int32_t>();
    }
    try {
      return WordPieceTokenizer(std::move(vocab), std::move(opt));
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(tok_path.string() + ": " + e.what());
    }
  }
  fs::path vocab_path = root / "vocab.txt";
  if (fs::exists(vocab_path)) return from_vocab_file(vocab_path.string(), std::move(opt));
  throw std::runtime_error(dir +
                           ": no tokenizer found: expected tokenizer.json (a WordPiece "
                           "tokenizer) or vocab.txt");
}

template <class Fn>
void WordPieceTokenizer::for_each_word(const std::string& text, Fn&& fn) const {
  std::vector<char32_t> cps = decode_utf8(text);
  std::vector<char32_t> norm;
  norm.reserve(cps.size() + cps.size() / 4);
  for (char32_t cp : cps) {
    if (options_.clean_text) {
      if (cp == 0 || cp == 0xFFFD || is_control(cp)) continue;
      if (is_whitespace(cp)) cp = U' ';
    }
    if (options_.handle_chinese_chars && is_chinese_char(cp)) {
      norm.push_back(U' ');
      norm.push_back(cp);
      norm.push_back(U' ');
    } else {
      norm.push_back(cp);
    }
  }
  if (options_.strips_accents()) norm = strip_accents(norm);
  if (options_.lowercase) {
    std::vector<char32_t> lower;
    lower.reserve(norm.size());
    for (char32_t cp : norm) append_lower(lower, cp);
    norm.swap(lower);
  }

  // Split on whitespace, then isolate each punctuation character.
  std::string word;
  auto flush = [&]() -> bool {
    if (word.empty()) return true;
    bool go_on = fn(word);
    word.clear();
    return go_on;
  };
  for (char32_t cp : norm) {
    if (is_whitespace(cp)) {
      if (!flush()) return;
    } else if (is_punctuation(cp)) {
      if (!flush()) return;
      append_utf8(word, cp);
      if (!flush()) return;
    } else {
      append_utf8(word, cp);
    }
  }
  flush();
}

std::vector<std::string> WordPieceTokenizer::pre_tokenize(const std::string& text) const {
  std::vector<std::string> words;
  for_each_word(text, [&](const std::string& w) {
    words.push_back(w);
    return true;
  });
  return words;
}

bool WordPieceTokenizer::word_pieces(const std::string& word, std::vector<int32_t>& out,
                                     size_t max_pieces) const {
  // Byte offsets of the character boundaries.
  std::vector<size_t> bounds;
  bounds.reserve(word.size() + 1);
  for (size_t i = 0; i < word.size(); ++i)
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) bounds.push_back(i);
  bounds.push_back(word.size());
  size_t n_chars = bounds.size() - 1;

  auto emit = [&](int32_t id) {
    out.push_back(id);
    return out.size() < max_pieces;
  };
  if (n_chars > options_.max_input_chars_per_word) return emit(unk_id_);

  size_t first = out.size();
  std::string candidate;
  size_t start = 0;  // index into bounds
  while (start < n_chars) {
    int32_t found = -1;
    size_t end = n_chars;
    for (; end > start; --end) {
      candidate.clear();
      if (start > 0) candidate += options_.continuing_subword_prefix;
      candidate.append(word, bounds[start], bounds[end] - bounds[start]);
      auto it = vocab_.find(candidate);
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // some part has no piece: the whole word is unknown
      out.resize(first);
      return emit(unk_id_);
    }
    out.push_back(found);
    start = end;
  }
  if (out.size() >= max_pieces) {
    out.resize(max_pieces);
    return false;
  }
  return true;
}

std::vector<int32_t> WordPieceTokenizer::tokenize_ids(const std::string& text,
                                                      size_t max_pieces) const {
  std::vector<int32_t> ids;
  if (max_pieces == 0) {
    decode_utf8(text);  // still reject invalid input
    return ids;
  }
  for_each_word(text, [&](const std::string& w) { return word_pieces(w, ids, max_pieces); });
  return ids;
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (int32_t id : tokenize_ids(text)) out.push_back(id_to_token(id));
  return out;
}

std::vector<int32_t> WordPieceTokenizer::encode(const std::string& text, size_t max_length) const {
  if (max_length < 2)
    throw std::invalid_argument("max_length must leave room for [CLS] and [SEP] (>= 2), got " +
                                std::to_string(max_length));
  std::vector<int32_t> ids;
  ids.reserve(std::min<size_t>(max_length, text.size() + 2));
  ids.push_back(cls_id_);
  std::vector<int32_t> pieces = tokenize_ids(text, max_length - 2);
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  ids.push_back(sep_id_);
  return ids;
}

int32_t WordPieceTokenizer::token_to_id(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

const std::string& WordPieceTokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size())
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary (" +
                            std::to_string(id_to_token_.size()) + " tokens)");
  return id_to_token_[static_cast<size_t>(id)];
}

std::string strip_python_whitespace(const std::string& text) {
  auto is_space = [](char32_t cp) {
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
  };
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  auto size = static_cast<utf8proc_ssize_t>(text.size());
  // Leading: walk forward while whitespace.
  utf8proc_ssize_t begin = 0;
  while (begin < size) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(s + begin, size - begin, &cp);
    if (n < 0 || !is_space(static_cast<char32_t>(cp))) break;
    begin += n;
  }
  // Trailing: step back over whole characters (continuation bytes are 10xxxxxx).
  utf8proc_ssize_t end = size;
  while (end > begin) {
    utf8proc_ssize_t start = end - 1;
    while (start > begin && (s[start] & 0xC0) == 0x80) --start;
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(s + start, end - start, &cp);
    if (n != end - start || !is_space(static_cast<char32_t>(cp))) break;
    end = start;
  }
  return text.substr(static_cast<size_t>(begin), static_cast<size_t>(end - begin));
}

}  // namespace embedflow::tokenizers
