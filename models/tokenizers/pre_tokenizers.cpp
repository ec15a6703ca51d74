// The pre-tokenizers of a tokenizer.json, as Hugging Face `tokenizers`
// deserialises and runs them. Splitting follows HF's two steps: a pattern
// yields the pieces of text it matches and the gaps between them (empty regex
// matches included: they split too), then a SplitDelimiterBehavior decides what
// to keep and what to merge. Character classes are the ones HF really uses
// (hf_regex_internal.h, swept from the oracle).
#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/tokenizers/components.h"
#include "models/tokenizers/hf_regex_internal.h"
#include "models/tokenizers/unicode.h"

namespace embedflow::tokenizers {
namespace {

using detail::hf_char_flags;

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A matched or unmatched stretch of a piece, in code points.
struct Segment {
  size_t begin, end;
  bool match;
};

NormalizedText slice_of(const NormalizedText& t, size_t begin, size_t end) {
  NormalizedText s;
  s.chars.assign(t.chars, begin, end - begin);
  s.align.assign(t.align.begin() + static_cast<std::ptrdiff_t>(begin),
                 t.align.begin() + static_cast<std::ptrdiff_t>(end));
  return s;
}

// HF's NormalizedString::split: `segments` cover the piece in order.
void apply_behavior(const NormalizedText& piece, std::vector<Segment>& segments, Behavior behavior,
                    std::vector<NormalizedText>& out) {
  // (range, removed) after the behavior, as HF computes it.
  std::vector<Segment> kept;
  kept.reserve(segments.size());
  switch (behavior) {
    case Behavior::kRemoved:
      kept = segments;
      break;
    case Behavior::kIsolated:
      for (const Segment& s : segments) kept.push_back({s.begin, s.end, false});
      break;
    case Behavior::kContiguous: {
      bool previous = false;
      for (const Segment& s : segments) {
        if (s.match == previous && !kept.empty())
          kept.back().end = s.end;
        else
          kept.push_back({s.begin, s.end, false});
        previous = s.match;
      }
      break;
    }
    case Behavior::kMergedWithPrevious: {
      bool previous = false;
      for (const Segment& s : segments) {
        if (s.match && !previous && !kept.empty())
          kept.back().end = s.end;
        else
          kept.push_back({s.begin, s.end, false});
        previous = s.match;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      bool previous = false;
      for (size_t k = segments.size(); k-- > 0;) {
        const Segment& s = segments[k];
        if (s.match && !previous && !kept.empty())
          kept.back().begin = s.begin;
        else
          kept.push_back({s.begin, s.end, false});
        previous = s.match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  for (const Segment& s : kept)
    if (!s.match && s.end > s.begin) out.push_back(slice_of(piece, s.begin, s.end));
}

// Segments of a character predicate: every matching code point is a match of
// its own.
template <typename Pred>
void char_segments(const std::u32string& chars, Pred pred, std::vector<Segment>& segments) {
  size_t last = 0;
  for (size_t i = 0; i < chars.size(); ++i) {
    if (!pred(chars[i])) continue;
    if (last < i) segments.push_back({last, i, false});
    segments.push_back({i, i + 1, true});
    last = i + 1;
  }
  if (last < chars.size()) segments.push_back({last, chars.size(), false});
}

void invert(std::vector<Segment>& segments) {
  for (Segment& s : segments) s.match = !s.match;
}

// ---- Pre-tokenizers ----

class BertPre final : public PreTokenizer {
 public:
  void split(NormalizedText piece, std::vector<NormalizedText>& out) const override {
    size_t word = 0;
    const size_t n = piece.size();
    for (size_t i = 0; i < n; ++i) {
      const char32_t c = piece.chars[i];
      const bool space = hf_bert_is_whitespace(c);
      if (space || hf_bert_is_punctuation(c)) {
        if (word < i) out.push_back(slice_of(piece, word, i));
        if (!space) out.push_back(slice_of(piece, i, i + 1));
        word = i + 1;
      }
    }
    if (word < n) out.push_back(slice_of(piece, word, n));
  }
};

// `\w+|[^\w\s]+`, the matches kept.
class WhitespacePre final : public PreTokenizer {
 public:
  void split(NormalizedText piece, std::vector<NormalizedText>& out) const override {
    const size_t n = piece.size();
    size_t i = 0;
    while (i < n) {
      const uint8_t f = hf_char_flags(piece.chars[i]);
      if (f & detail::kRustRegexWord) {
        size_t j = i + 1;
        while (j < n && (hf_char_flags(piece.chars[j]) & detail::kRustRegexWord)) ++j;
        out.push_back(slice_of(piece, i, j));
        i = j;
      } else if (!(f & detail::kRustRegexSpace)) {
        size_t j = i + 1;
        while (j < n && !(hf_char_flags(piece.chars[j]) &
                          (detail::kRustRegexWord | detail::kRustRegexSpace)))
          ++j;
        out.push_back(slice_of(piece, i, j));
        i = j;
      } else {
        ++i;
      }
    }
  }
};

// Splits on a character predicate with a behavior (WhitespaceSplit,
// Punctuation, Digits, CharDelimiterSplit).
class CharSplitPre final : public PreTokenizer {
 public:
  enum class Kind { kWhitespace, kPunctuation, kNumeric, kDelimiter };
  CharSplitPre(Kind kind, Behavior behavior, char32_t delimiter = 0)
      : kind_(kind), behavior_(behavior), delimiter_(delimiter) {}

  void split(NormalizedText piece, std::vector<NormalizedText>& out) const override {
    if (piece.empty()) return;
    std::vector<Segment> segments;
    auto pred = [this](char32_t c) {
      switch (kind_) {
        case Kind::kWhitespace:
          return hf_bert_is_whitespace(c);
        case Kind::kPunctuation:
          return hf_bert_is_punctuation(c);
        case Kind::kNumeric:
          return (hf_char_flags(c) & detail::kRustNumeric) != 0;
        case Kind::kDelimiter:
          break;
      }
      return c == delimiter_;
    };
    char_segments(piece.chars, pred, segments);
    apply_behavior(piece, segments, behavior_, out);
  }

 private:
  Kind kind_;
  Behavior behavior_;
  char32_t delimiter_;
};

class SplitPre final : public PreTokenizer {
 public:
  SplitPre(const std::string& regex, Behavior behavior, bool invert, const JsonSite& site)
      : program_(regex, site), behavior_(behavior), invert_(invert) {}

  void split(NormalizedText piece, std::vector<NormalizedText>& out) const override {
    if (piece.empty()) return;
    std::vector<std::pair<size_t, size_t>> matches;
    program_.find(piece.chars.data(), piece.size(), matches, true);
    std::vector<Segment> segments;
    segments.reserve(matches.size() * 2 + 1);
    size_t prev = 0;
    for (auto [b, e] : matches) {
      if (prev != b) segments.push_back({prev, b, false});
      segments.push_back({b, e, true});
      prev = e;
    }
    if (prev != piece.size()) segments.push_back({prev, piece.size(), false});
    if (invert_) invert(segments);
    apply_behavior(piece, segments, behavior_, out);
  }

 private:
  detail::RegexProgram program_;
  Behavior behavior_;
  bool invert_;
};

// GPT-2's byte-to-unicode alphabet: printable bytes stand for themselves, the
// others for U+0100 onwards in byte order.
const std::array<char32_t, 256>& byte_alphabet() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      t[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

class ByteLevelPre final : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, bool use_regex, const JsonSite& site)
      : add_prefix_space_(add_prefix_space),
        gpt2_(use_regex ? std::make_unique<detail::RegexProgram>(detail::kGpt2Pattern, site)
                        : nullptr) {}

  void split(NormalizedText piece, std::vector<NormalizedText>& out) const override {
    if (piece.empty()) return;
    if (add_prefix_space_ && piece.chars[0] != U' ') {
      piece.chars.insert(piece.chars.begin(), U' ');
      piece.align.insert(piece.align.begin(), piece.align[0]);
    }
    if (!gpt2_) {
      out.push_back(to_bytes(piece, 0, piece.size()));
      return;
    }
    std::vector<std::pair<size_t, size_t>> matches;
    gpt2_->find(piece.chars.data(), piece.size(), matches, false);
    for (auto [b, e] : matches) out.push_back(to_bytes(piece, b, e));
  }

 private:
  static NormalizedText to_bytes(const NormalizedText& t, size_t begin, size_t end) {
    const auto& alphabet = byte_alphabet();
    NormalizedText r;
    size_t bytes = 0;
    for (size_t i = begin; i < end; ++i) {
      const char32_t c = t.chars[i];
      bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    r.chars.resize(bytes);
    r.align.resize(bytes);
    char32_t* oc = r.chars.data();
    std::pair<uint32_t, uint32_t>* oa = r.align.data();
    for (size_t i = begin; i < end; ++i) {
      const char32_t c = t.chars[i];
      const auto a = t.align[i];
      if (c < 0x80) {
        *oc++ = alphabet[c];
        *oa++ = a;
        continue;
      }
      uint8_t buf[4];
      int n;
      if (c < 0x800) {
        buf[0] = static_cast<uint8_t>(0xC0 | (c >> 6));
        n = 1;
      } else if (c < 0x10000) {
        buf[0] = static_cast<uint8_t>(0xE0 | (c >> 12));
        buf[1] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F));
        n = 2;
      } else {
        buf[0] = static_cast<uint8_t>(0xF0 | (c >> 18));
        buf[1] = static_cast<uint8_t>(0x80 | ((c >> 12) & 0x3F));
        buf[2] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F));
        n = 3;
      }
      buf[n++] = static_cast<uint8_t>(0x80 | (c & 0x3F));
      for (int k = 0; k < n; ++k) {
        *oc++ = alphabet[buf[k]];
        *oa++ = a;
      }
    }
    return r;
  }

  bool add_prefix_space_;
  std::unique_ptr<detail::RegexProgram> gpt2_;
};

enum class Prepend { kAlways, kFirst, kNever };

class MetaspacePre final : public PreTokenizer {
 public:
  MetaspacePre(char32_t replacement, Prepend prepend, bool split)
      : replacement_(replacement), prepend_(prepend), split_(split) {}

  void split(NormalizedText piece, std::vector<NormalizedText>& out) const override {
    if (piece.empty()) return;
    for (char32_t& c : piece.chars)
      if (c == U' ') c = replacement_;
    // "first": only the piece that starts the text (HF looks at the piece's
    // original offset).
    const bool prepend = piece.chars[0] != replacement_ &&
                         (prepend_ == Prepend::kAlways ||
                          (prepend_ == Prepend::kFirst && piece.align[0].first == 0));
    if (prepend) {
      piece.chars.insert(piece.chars.begin(), replacement_);
      piece.align.insert(piece.align.begin(), piece.align[0]);
    }
    if (!split_) {
      out.push_back(std::move(piece));
      return;
    }
    std::vector<Segment> segments;
    const char32_t r = replacement_;
    char_segments(
        piece.chars, [r](char32_t c) { return c == r; }, segments);
    apply_behavior(piece, segments, Behavior::kMergedWithNext, out);
  }

 private:
  char32_t replacement_;
  Prepend prepend_;
  bool split_;
};

class SequencePre final : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}

  void split(NormalizedText piece, std::vector<NormalizedText>& out) const override {
    if (piece.empty()) return;
    if (parts_.empty()) {
      out.push_back(std::move(piece));
      return;
    }
    std::vector<NormalizedText> current, next;
    current.push_back(std::move(piece));
    for (size_t k = 0; k < parts_.size(); ++k) {
      std::vector<NormalizedText>& target = k + 1 == parts_.size() ? out : next;
      for (NormalizedText& p : current) parts_[k]->split(std::move(p), target);
      current.swap(next);
      next.clear();
    }
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

// ---- JSON ----

Behavior behavior_of(const Json& object, std::string_view key, const JsonSite& site) {
  const std::string name = string_field(object, key, site);
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  site.at(key).fail("unknown split behavior \"" + name +
                    "\" (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or "
                    "Contiguous)");
}

bool required_bool(const Json& object, std::string_view key, const JsonSite& site) {
  const Json& v = require_field(object, key, site);
  if (!v.is_boolean()) site.at(key).fail("expected a boolean");
  return v.get<bool>();
}

// An Option<bool> field: absent or null is nullopt.
std::optional<bool> optional_bool(const Json& object, std::string_view key, const JsonSite& site) {
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) site.at(key).fail("expected a boolean");
  return it->get<bool>();
}

// A Rust `char` field: a string of exactly one code point.
char32_t char_field(const Json& object, std::string_view key, const JsonSite& site) {
  const std::string s = string_field(object, key, site);
  std::vector<char32_t> cps;
  try {
    cps = decode_utf8(s);
  } catch (const std::invalid_argument&) {
  }
  if (cps.size() != 1) site.at(key).fail("expected a single character, got \"" + s + "\"");
  return cps[0];
}

// A literal pattern as a regex (HF escapes it and compiles it, so "" matches
// everywhere).
std::string escape_literal(const std::string& s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u) && c != '_' && u >= 0x20) out += '\\';
    if (u < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\x{";
      out += hex[u >> 4];
      out += hex[u & 15];
      out += '}';
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& value, const JsonSite& site) {
  const Json& object = require_object(value, site);
  const std::string type = string_field(object, "type", site);
  if (type == "BertPreTokenizer") {
    reject_unknown_fields(object, {}, site);
    return std::make_unique<BertPre>();
  }
  if (type == "Whitespace") {
    reject_unknown_fields(object, {}, site);
    return std::make_unique<WhitespacePre>();
  }
  if (type == "WhitespaceSplit") {
    reject_unknown_fields(object, {}, site);
    return std::make_unique<CharSplitPre>(CharSplitPre::Kind::kWhitespace, Behavior::kRemoved);
  }
  if (type == "ByteLevel") {
    reject_unknown_fields(object, {"add_prefix_space", "trim_offsets", "use_regex"}, site);
    const bool add_prefix_space = required_bool(object, "add_prefix_space", site);
    required_bool(object, "trim_offsets",
                  site);  // used by the post-processor, not here
    const bool use_regex = bool_field(object, "use_regex", site, true);
    return std::make_unique<ByteLevelPre>(add_prefix_space, use_regex, site);
  }
  if (type == "Split") {
    reject_unknown_fields(object, {"pattern", "behavior", "invert"}, site);
    const JsonSite psite = site.at("pattern");
    const Json& pattern = require_object(require_field(object, "pattern", site), psite);
    if (pattern.size() != 1) psite.fail("expected exactly one of \"String\" or \"Regex\"");
    std::string regex;
    if (pattern.contains("String"))
      regex = escape_literal(string_field(pattern, "String", psite));
    else if (pattern.contains("Regex"))
      regex = string_field(pattern, "Regex", psite);
    else
      psite.fail("expected \"String\" or \"Regex\"");
    const Behavior behavior = behavior_of(object, "behavior", site);
    const bool inv = required_bool(object, "invert", site);
    const JsonSite rsite = psite.at(pattern.contains("String") ? "String" : "Regex");
    return std::make_unique<SplitPre>(regex, behavior, inv, rsite);
  }
  if (type == "Metaspace") {
    reject_unknown_fields(
        object, {"replacement", "prepend_scheme", "split", "add_prefix_space", "str_rep"}, site);
    const char32_t replacement = char_field(object, "replacement", site);
    Prepend prepend = Prepend::kAlways;
    auto scheme = object.find("prepend_scheme");
    if (scheme != object.end() && !scheme->is_null()) {
      const std::string s = string_field(object, "prepend_scheme", site);
      if (s == "always")
        prepend = Prepend::kAlways;
      else if (s == "first")
        prepend = Prepend::kFirst;
      else if (s == "never")
        prepend = Prepend::kNever;
      else
        site.at("prepend_scheme")
            .fail("unknown prepend_scheme \"" + s + "\" (expected always, first or never)");
    }
    // The legacy field: false must agree with the scheme (HF refuses the file
    // otherwise).
    if (optional_bool(object, "add_prefix_space", site) == false && prepend != Prepend::kNever)
      site.at("add_prefix_space").fail("add_prefix_space does not match declared prepend_scheme");
    const bool split = optional_bool(object, "split", site).value_or(true);
    return std::make_unique<MetaspacePre>(replacement, prepend, split);
  }
  if (type == "Punctuation") {
    reject_unknown_fields(object, {"behavior"}, site);
    const Behavior behavior =
        object.contains("behavior") ? behavior_of(object, "behavior", site) : Behavior::kIsolated;
    return std::make_unique<CharSplitPre>(CharSplitPre::Kind::kPunctuation, behavior);
  }
  if (type == "Digits") {
    reject_unknown_fields(object, {"individual_digits"}, site);
    const bool individual = required_bool(object, "individual_digits", site);
    return std::make_unique<CharSplitPre>(CharSplitPre::Kind::kNumeric,
                                          individual ? Behavior::kIsolated : Behavior::kContiguous);
  }
  if (type == "CharDelimiterSplit") {
    reject_unknown_fields(object, {"delimiter"}, site);
    return std::make_unique<CharSplitPre>(CharSplitPre::Kind::kDelimiter, Behavior::kRemoved,
                                          char_field(object, "delimiter", site));
  }
  if (type == "Sequence") {
    reject_unknown_fields(object, {"pretokenizers"}, site);
    return std::make_unique<SequencePre>(
        make_parts<PreTokenizer>(object, "pretokenizers", site, make_pre_tokenizer));
  }
  site.at("type").fail("pre-tokenizer type \"" + type + "\" is not supported");
}

}  // namespace embedflow::tokenizers
