// OpenAI CLIP's text cleaning (clip.tokenize / simple_tokenizer.py), which Hugging Face's
// CLIP tokenizer.json does not apply: ftfy.fix_text, html.unescape twice, whitespace collapse,
// strip, lower-case. encode.clip_text applies it before the tokenizer with
// `text_cleaning: openai`, for users comparing with the `clip` package; the default is what the
// folder's tokenizer.json says (NFC, whitespace collapse, lower-case).
//
// ftfy is approximated by the subset of its fixes that occurs in captions (see clip_fix_text);
// tests/fixtures/clip/clip_tokenizer_ref.py is the reference it is tested against.
#pragma once

#include <string>

namespace embedflow::tokenizers {

// The ftfy.fix_text subset, repeated like ftfy until the text stops changing: well-formed HTML
// references ("&rsquo;", "&#8217;"; skipped when the text contains '<'); UTF-8 mis-decoded as
// Windows-1252/Latin-1 repaired ("cafÃ©" → "café", "â€™" → "’": 2-byte sequences led by Â/Ã and
// any 3-/4-byte sequence, up to three levels deep); C1 controls read as Windows-1252; Latin
// ligatures split; fullwidth ASCII and U+3000 made ASCII; curly quotes straightened; ANSI
// terminal escapes and control characters removed; NFC. Not covered: ftfy's badness heuristics
// for other codecs, halfwidth kana, upper-case entity spellings.
std::string clip_fix_text(const std::string& utf8);
// Python's html.unescape (HTML5 named and numeric character references).
std::string html_unescape(const std::string& utf8);
// The whole cleaning CLIP applies before splitting: fix_text, html_unescape twice, collapse
// whitespace runs to one space, strip, lower-case (Python str.lower semantics).
std::string clip_clean_text(const std::string& utf8);

}  // namespace embedflow::tokenizers
