// Internals shared by hf_regex.cpp and pre_tokenizers.cpp: the character sets
// HF really uses (unicode_regex_tables.inc, swept from the oracle) and the
// matcher behind HfRegex, which can also report the empty matches HF's Split
// sees (HfRegex::find_all skips them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/tokenizers/components.h"

namespace embedflow::tokenizers::detail {

// Membership bits of one code point, from the swept tables.
enum HfCharFlag : uint8_t {
  kOnigSpace = 1,         // Oniguruma's \s
  kOnigLetter = 2,        // \p{L}
  kOnigNumber = 4,        // \p{N}
  kRustRegexWord = 8,     // the regex crate's \w (Whitespace's \w+|[^\w\s]+)
  kRustWhitespace = 16,   // char::is_whitespace (the pre-tokenizers use unicode.h's, the same)
  kHfPunctuation = 32,    // HF's is_punc (likewise hf_bert_is_punctuation)
  kRustNumeric = 64,      // char::is_numeric (Digits)
  kRustRegexSpace = 128,  // the regex crate's \s
};
uint8_t hf_char_flags(char32_t c);

// GPT-2's pre-tokenization pattern (ByteLevel's), which RegexProgram matches by
// hand.
extern const char* const kGpt2Pattern;

// A compiled HF pattern. Const-thread-safe.
class RegexProgram {
 public:
  RegexProgram(const std::string& pattern, const JsonSite& site);
  ~RegexProgram();
  RegexProgram(const RegexProgram&) = delete;
  RegexProgram& operator=(const RegexProgram&) = delete;

  // Matches left to right as Oniguruma's find_iter gives them to HF: an empty
  // match is reported unless it ends where the previous match ended;
  // `with_empty` false drops every empty match.
  void find(const char32_t* text, size_t size, std::vector<std::pair<size_t, size_t>>& out,
            bool with_empty) const;

 private:
  struct Pcre;
  std::unique_ptr<Pcre> pcre_;  // null for the hand-written GPT-2 matcher
};

// The pattern rewritten for PCRE2 (exposed for tests and messages).
std::u32string rewrite_onig_pattern(const std::u32string& pattern, const JsonSite& site);

}  // namespace embedflow::tokenizers::detail
