// What sentence-transformers does to a text before its tokenizer sees it, in Python's terms.
#pragma once

#include <string>

namespace embedflow::tokenizers {

// Python's str.strip(): removes leading and trailing characters for which str.isspace() is true
// (category Zs, or bidirectional class WS, B or S) — what sentence-transformers applies to every
// input before tokenising. Invalid UTF-8 is left for the tokenizer to reject.
std::string strip_python_whitespace(const std::string& text);

// Python's str.lower() character by character (U+0130 → "i" U+0307; the final-sigma context
// rule is not applied), for sentence_bert_config.json's do_lower_case. Throws
// std::invalid_argument on invalid UTF-8.
std::string python_lower(const std::string& text);

}  // namespace embedflow::tokenizers
