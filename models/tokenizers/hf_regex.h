// Regular expressions as Hugging Face `tokenizers` runs them (Oniguruma, through the `onig`
// crate), on PCRE2: the pattern is compiled for code points, and the character classes whose
// Unicode tables differ between the two (\s, \p{L}, \p{N} and friends) are rewritten to the sets
// HF's build uses (unicode_regex_tables.inc, generated from the oracle), so that a Split
// pre-tokenizer or a Replace normalizer finds the matches HF finds.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/tokenizers/components.h"

namespace embedflow::tokenizers {

class HfRegex {
 public:
  // Throws TokenizerConfigError at `site` for a pattern PCRE2 cannot compile or that uses a
  // construct whose meaning differs from Oniguruma's and is not rewritten.
  HfRegex(const std::string& pattern, const JsonSite& site);
  ~HfRegex();
  HfRegex(HfRegex&&) noexcept;

  // Non-overlapping matches, left to right, as [begin, end) code point indexes of `text`.
  // Empty matches are skipped, as HF's find_iter-based splitting skips them.
  void find_all(const std::u32string& text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedflow::tokenizers
