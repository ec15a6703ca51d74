// The normalizers of Hugging Face `tokenizers` (tokenizers/src/normalizers), read from their
// tokenizer.json objects as HF deserialises them (make_normalizer, components.h).
//
// Alignment follows HF's NormalizedString::transform: a normaliser produces (code point, change)
// pairs, and the alignment of each output code point is taken positionally from the input, as
// HF does (change 0 takes the next input code point's range, n > 0 is inserted and takes the
// range of the input code point before it, -n takes the next range and skips n more). Odd
// consequences (Precompiled's alignments after a longer replacement) are HF's too.
#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <utf8proc.h>

#include "models/tokenizers/components.h"
#include "models/tokenizers/hf_regex.h"
#include "models/tokenizers/unicode.h"

namespace embedflow::tokenizers {
namespace {

using Change = std::pair<char32_t, int>;
using Changes = std::vector<Change>;
using Range = std::pair<uint32_t, uint32_t>;

// The empty range at the start of `text` (what HF gives a code point inserted at the front).
Range start_range(const NormalizedText& text) {
  if (text.empty()) return {0, 0};
  return {text.align.front().first, text.align.front().first};
}

// NormalizedString::transform over the whole text.
// `initial_removed` input code points are dropped before the first change.
void apply_changes(NormalizedText& text, const Changes& changes, size_t initial_removed = 0) {
  NormalizedText out;
  out.chars.reserve(changes.size());
  out.align.reserve(changes.size());
  const size_t n = text.size();
  size_t offset = initial_removed;  // input code points consumed
  for (const auto& [c, change] : changes) {
    Range a;
    if (change > 0) {
      a = offset == 0 ? start_range(text) : text.align[std::min(offset, n) - 1];
    } else {
      if (offset < n)
        a = text.align[offset];
      else
        a = n == 0 ? Range{0, 0} : Range{text.align.back().second, text.align.back().second};
      offset += 1 + static_cast<size_t>(-change);
    }
    out.push_back(c, a);
  }
  text = std::move(out);
}

// NormalizedString::filter (kept code points keep their own ranges).
template <typename Keep>
void filter(NormalizedText& text, Keep keep) {
  size_t j = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!keep(text.chars[i])) continue;
    text.chars[j] = text.chars[i];
    text.align[j] = text.align[i];
    ++j;
  }
  text.chars.resize(j);
  text.align.resize(j);
}

void normalize_form(NormalizedText& text, NormalizationForm form) {
  Changes changes;
  hf_normalize(form, text.chars, changes);
  apply_changes(text, changes);
}

void lowercase(NormalizedText& text) {
  Changes changes;
  changes.reserve(text.size());
  std::u32string lower;
  for (char32_t c : text.chars) {
    lower.clear();
    hf_lowercase(c, lower);
    for (size_t i = 0; i < lower.size(); ++i) changes.emplace_back(lower[i], i > 0 ? 1 : 0);
  }
  apply_changes(text, changes);
}

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lower)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lower_(lower) {}
  void normalize(NormalizedText& text) const override {
    if (clean_text_) {
      filter(text, [](char32_t c) { return !(c == 0 || c == 0xFFFD || hf_bert_is_control(c)); });
      for (char32_t& c : text.chars)
        if (hf_bert_is_whitespace(c)) c = U' ';
    }
    if (chinese_) {
      Changes changes;
      changes.reserve(text.size());
      for (char32_t c : text.chars) {
        if (hf_is_chinese_char(c)) {
          // As the oracle aligns them: both spaces take the ideograph's range.
          changes.emplace_back(U' ', 0);
          changes.emplace_back(c, 1);
          changes.emplace_back(U' ', 1);
        } else {
          changes.emplace_back(c, 0);
        }
      }
      apply_changes(text, changes);
    }
    if (strip_accents_) {
      normalize_form(text, NormalizationForm::NFD);
      filter(text, [](char32_t c) { return !hf_is_nonspacing_mark(c); });
    }
    if (lower_) lowercase(text);
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lower_;
};

class FormNormalizer final : public Normalizer {
 public:
  explicit FormNormalizer(NormalizationForm form) : form_(form) {}
  void normalize(NormalizedText& text) const override { normalize_form(text, form_); }

 private:
  NormalizationForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedText& text) const override { lowercase(text); }
};

class StripAccentsNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedText& text) const override {
    filter(text, [](char32_t c) { return !hf_is_combining_mark(c); });
  }
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedText& text) const override {
    size_t begin = 0, end = text.size();
    if (left_)
      while (begin < end && hf_bert_is_whitespace(text.chars[begin])) ++begin;
    if (right_)
      while (end > begin && hf_bert_is_whitespace(text.chars[end - 1])) --end;
    if (begin != 0 || end != text.size()) text = text.slice(begin, end);
  }

 private:
  bool left_, right_;
};

class NmtNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedText& text) const override {
    filter(text, [](char32_t c) {
      return !((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
               c == 0x8F || c == 0x9F);
    });
    for (char32_t& c : text.chars) {
      if (c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
          (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
          c == 0xFEFF || c == 0xFFFD)
        c = U' ';
    }
  }
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::u32string prepend) : prepend_(std::move(prepend)) {}
  void normalize(NormalizedText& text) const override {
    if (text.empty() || prepend_.empty()) return;
    // NormalizedString::prepend: the first prepended code point replaces the first code point's
    // place, the rest and that code point are inserted after it (all take its range).
    Changes changes;
    changes.reserve(prepend_.size() + text.size());
    for (size_t i = 0; i < prepend_.size(); ++i) changes.emplace_back(prepend_[i], i > 0 ? 1 : 0);
    changes.emplace_back(text.chars[0], 1);
    for (size_t i = 1; i < text.size(); ++i) changes.emplace_back(text.chars[i], 0);
    apply_changes(text, changes);
  }

 private:
  std::u32string prepend_;
};

// NormalizedString::replace: each match is removed and the content inserted in its place, every
// content code point taking the range of the match's last code point (of the code point before
// an empty match).
class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::u32string literal, std::u32string content)
      : literal_(std::move(literal)), content_(std::move(content)) {}
  ReplaceNormalizer(HfRegex regex, std::u32string content)
      : regex_(std::move(regex)), content_(std::move(content)) {}

  void normalize(NormalizedText& text) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    if (regex_) {
      regex_->find_all(text.chars, matches);
    } else if (literal_.empty()) {
      for (size_t i = 0; i <= text.size(); ++i) matches.emplace_back(i, i);
    } else {
      for (size_t pos = text.chars.find(literal_); pos != std::u32string::npos;
           pos = text.chars.find(literal_, pos + literal_.size()))
        matches.emplace_back(pos, pos + literal_.size());
    }
    if (matches.empty()) return;
    NormalizedText out;
    size_t last = 0;
    for (const auto& [b, e] : matches) {
      for (size_t i = last; i < b; ++i) out.push_back(text.chars[i], text.align[i]);
      const Range a = e == 0 ? start_range(text) : text.align[e - 1];
      for (char32_t c : content_) out.push_back(c, a);
      last = e;
    }
    for (size_t i = last; i < text.size(); ++i) out.push_back(text.chars[i], text.align[i]);
    text = std::move(out);
  }

 private:
  std::u32string literal_;
  std::optional<HfRegex> regex_;
  std::u32string content_;
};

// GPT-2's byte-to-code-point map (the ByteLevel pre-tokenizer's BYTES_CHAR).
std::array<char32_t, 256> byte_chars() {
  std::array<char32_t, 256> map{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    map[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
  }
  return map;
}

class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedText& text) const override {
    static const std::array<char32_t, 256> kBytes = byte_chars();
    if (text.empty()) return;
    Changes changes;
    changes.reserve(text.size() * 2);
    std::string bytes;
    for (char32_t c : text.chars) {
      bytes.clear();
      append_utf8(bytes, c);
      for (size_t i = 0; i < bytes.size(); ++i)
        changes.emplace_back(kBytes[static_cast<unsigned char>(bytes[i])], i > 0 ? 1 : 0);
    }
    apply_changes(text, changes);
  }
};

// SentencePiece's precompiled_charsmap: a little-endian u32 trie size in bytes, the Darts
// double-array trie (u32 units) over UTF-8 keys, then the NUL-separated replacement strings.
class PrecompiledNormalizer final : public Normalizer {
 public:
  PrecompiledNormalizer(const std::string& blob, const JsonSite& site) {
    auto u32 = [&](size_t pos) {
      return static_cast<uint32_t>(static_cast<unsigned char>(blob[pos])) |
             static_cast<uint32_t>(static_cast<unsigned char>(blob[pos + 1])) << 8 |
             static_cast<uint32_t>(static_cast<unsigned char>(blob[pos + 2])) << 16 |
             static_cast<uint32_t>(static_cast<unsigned char>(blob[pos + 3])) << 24;
    };
    if (blob.size() < 4) site.fail("cannot parse precompiled_charsmap: too short");
    const uint32_t trie_size = u32(0);
    const size_t units = trie_size / 4;
    if (4 + units * 4 > blob.size() || units == 0)
      site.fail("cannot parse precompiled_charsmap: trie larger than the data");
    trie_.resize(units);
    for (size_t i = 0; i < units; ++i) trie_[i] = u32(4 + i * 4);
    normalized_ = blob.substr(4 + units * 4);
    try {
      NormalizedText::from_utf8(normalized_);
    } catch (const std::invalid_argument&) {
      site.fail("cannot parse precompiled_charsmap: replacements are not UTF-8");
    }
  }

  void normalize(NormalizedText& text) const override {
    Changes changes;
    changes.reserve(text.size());
    bool modified = false;
    std::string chunk;
    std::u32string norm;
    size_t initial_removed = 0;
    auto emit = [&](size_t old_count) {
      // A code point mapped to nothing is removed as filter() removes: its place goes to the
      // code point before it (as the oracle aligns it).
      if (norm.empty()) {
        if (changes.empty())
          initial_removed += old_count;
        else
          changes.back().second -= static_cast<int>(old_count);
        return;
      }
      for (size_t i = 0; i < norm.size(); ++i) {
        const int diff = static_cast<int>(norm.size()) - static_cast<int>(old_count);
        const int n = i == 0 ? std::min(diff, 0) : 1;
        changes.emplace_back(norm[i], n);
      }
    };
    utf8proc_int32_t state = 0;
    size_t begin = 0;
    const size_t n = text.size();
    for (size_t i = 1; i <= n; ++i) {
      if (i < n &&
          !utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(text.chars[i - 1]),
                                            static_cast<utf8proc_int32_t>(text.chars[i]), &state))
        continue;
      // Grapheme [begin, i).
      chunk.clear();
      for (size_t k = begin; k < i; ++k) append_utf8(chunk, text.chars[k]);
      if (chunk.size() < 6 && transform(chunk, norm)) {
        modified = true;
        emit(i - begin);
      } else {
        for (size_t k = begin; k < i; ++k) {
          chunk.clear();
          append_utf8(chunk, text.chars[k]);
          if (transform(chunk, norm)) {
            modified = true;
            emit(1);
          } else {
            changes.emplace_back(text.chars[k], 0);
          }
        }
      }
      begin = i;
    }
    if (modified) apply_changes(text, changes, initial_removed);
  }

 private:
  // The replacement of the shortest key that is a prefix of `key` (spm_precompiled's transform).
  bool transform(const std::string& key, std::u32string& out) const {
    auto offset = [](uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); };
    size_t pos = 0;
    uint32_t unit = trie_[0];
    pos ^= offset(unit);
    for (char ch : key) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == 0) break;
      pos ^= c;
      if (pos >= trie_.size()) return false;
      unit = trie_[pos];
      if ((unit & ((1u << 31) | 0xFFu)) != c) return false;
      pos ^= offset(unit);
      if ((unit >> 8) & 1) {
        if (pos >= trie_.size()) return false;
        const size_t index = trie_[pos] & ((1u << 31) - 1);
        if (index > normalized_.size()) return false;
        size_t end = normalized_.find('\0', index);
        if (end == std::string::npos) end = normalized_.size();
        out = NormalizedText::from_utf8(std::string_view(normalized_).substr(index, end - index))
                  .chars;
        return true;
      }
    }
    return false;
  }

  std::vector<uint32_t> trie_;
  std::string normalized_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void normalize(NormalizedText& text) const override {
    for (const auto& part : parts_) part->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

std::u32string decode_field(const Json& object, std::string_view key, const JsonSite& site) {
  const std::string s = string_field(object, key, site);
  try {
    return NormalizedText::from_utf8(s).chars;
  } catch (const std::invalid_argument& e) {
    site.at(key).fail(e.what());
  }
}

std::string base64_decode(const std::string& in, const JsonSite& site) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  size_t len = in.size();
  if (len % 4 != 0) site.fail("invalid base64 (length not a multiple of 4)");
  size_t pad = 0;
  while (pad < 2 && len > 0 && in[len - 1 - pad] == '=') ++pad;
  std::string out;
  out.reserve(len / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len - pad; ++i) {
    const int v = value(in[i]);
    if (v < 0) site.fail("invalid base64 character at " + std::to_string(i));
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) site.fail("invalid base64 (trailing bits)");
  return out;
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& value, const JsonSite& site) {
  require_object(value, site);
  const std::string type = string_field(value, "type", site);
  if (type == "BertNormalizer") {
    reject_unknown_fields(
        value, {"clean_text", "handle_chinese_chars", "strip_accents", "lowercase"}, site);
    auto required_bool = [&](std::string_view key) {
      require_field(value, key, site);
      return bool_field(value, key, site, false);
    };
    const bool clean_text = required_bool("clean_text");
    const bool chinese = required_bool("handle_chinese_chars");
    const bool lower = required_bool("lowercase");
    bool strip = lower;  // strip_accents absent or null follows lowercase
    auto it = value.find("strip_accents");
    if (it != value.end() && !it->is_null())
      strip = bool_field(value, "strip_accents", site, lower);
    return std::make_unique<BertNormalizer>(clean_text, chinese, strip, lower);
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    reject_unknown_fields(value, {}, site);
    const NormalizationForm form = type == "NFC"    ? NormalizationForm::NFC
                                   : type == "NFD"  ? NormalizationForm::NFD
                                   : type == "NFKC" ? NormalizationForm::NFKC
                                                    : NormalizationForm::NFKD;
    return std::make_unique<FormNormalizer>(form);
  }
  if (type == "Lowercase") {
    reject_unknown_fields(value, {}, site);
    return std::make_unique<LowercaseNormalizer>();
  }
  if (type == "StripAccents") {
    reject_unknown_fields(value, {}, site);
    return std::make_unique<StripAccentsNormalizer>();
  }
  if (type == "Nmt") {
    reject_unknown_fields(value, {}, site);
    return std::make_unique<NmtNormalizer>();
  }
  if (type == "ByteLevel") {
    reject_unknown_fields(value, {}, site);
    return std::make_unique<ByteLevelNormalizer>();
  }
  if (type == "Strip") {
    reject_unknown_fields(value, {"strip_left", "strip_right"}, site);
    require_field(value, "strip_left", site);
    require_field(value, "strip_right", site);
    return std::make_unique<StripNormalizer>(bool_field(value, "strip_left", site, false),
                                             bool_field(value, "strip_right", site, false));
  }
  if (type == "Prepend") {
    reject_unknown_fields(value, {"prepend"}, site);
    return std::make_unique<PrependNormalizer>(decode_field(value, "prepend", site));
  }
  if (type == "Replace") {
    reject_unknown_fields(value, {"pattern", "content"}, site);
    const JsonSite pattern_site = site.at("pattern");
    const Json& pattern = require_object(require_field(value, "pattern", site), pattern_site);
    std::u32string content = decode_field(value, "content", site);
    if (pattern.size() != 1) pattern_site.fail("expected exactly one of \"String\" or \"Regex\"");
    if (pattern.contains("String"))
      return std::make_unique<ReplaceNormalizer>(decode_field(pattern, "String", pattern_site),
                                                 std::move(content));
    if (pattern.contains("Regex")) {
      HfRegex regex(string_field(pattern, "Regex", pattern_site), pattern_site.at("Regex"));
      return std::make_unique<ReplaceNormalizer>(std::move(regex), std::move(content));
    }
    pattern_site.at(pattern.begin().key()).fail("unknown pattern kind (expected String or Regex)");
  }
  if (type == "Precompiled") {
    reject_unknown_fields(value, {"precompiled_charsmap"}, site);
    const JsonSite at = site.at("precompiled_charsmap");
    const std::string blob = base64_decode(string_field(value, "precompiled_charsmap", site), at);
    return std::make_unique<PrecompiledNormalizer>(blob, at);
  }
  if (type == "Sequence") {
    reject_unknown_fields(value, {"normalizers"}, site);
    return std::make_unique<SequenceNormalizer>(
        make_parts<Normalizer>(value, "normalizers", site, make_normalizer));
  }
  site.at("type").fail("unknown normalizer type \"" + type + "\"");
}

}  // namespace embedflow::tokenizers
