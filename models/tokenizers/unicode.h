// UTF-8 decoding and the Unicode properties of Hugging Face `tokenizers` (utf8proc underneath,
// corrected by unicode_tables.inc, generated from the oracle by
// tests/fixtures/tokenizers/gen_unicode_tables.js: HF classifies characters with older Unicode
// tables than utf8proc's, and those differences change ids).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace embedflow::tokenizers {

// Decodes UTF-8; throws std::invalid_argument naming the byte offset of the first invalid
// sequence.
std::vector<char32_t> decode_utf8(const std::string& s);
std::string encode_utf8(const std::vector<char32_t>& cps);
void append_utf8(std::string& out, char32_t cp);
bool is_valid_utf8(const std::string& s);

// An inclusive range of code points (the generated tables are sorted, disjoint lists of them).
struct CodepointRange {
  char32_t first, last;
};

// Rust's char::is_whitespace (White_Space), which BertNormalizer's clean_text,
// BertPreTokenizer and WhitespaceSplit use.
bool hf_bert_is_whitespace(char32_t c);
// BertNormalizer's is_control: HF's "other" categories (Cc, Cf, Cn, Co, Cs as its tables have
// them), except \t, \n and \r.
bool hf_bert_is_control(char32_t c);
// BertPreTokenizer's (and Punctuation's) is_punc: ASCII punctuation and symbols, plus HF's
// Unicode punctuation categories (Pc, Pd, Pe, Pf, Pi, Po, Ps).
bool hf_bert_is_punctuation(char32_t c);
// BertNormalizer's strip_accents: the nonspacing marks (Mn) it removes after NFD (HF's tables;
// only meaningful for code points NFD leaves unchanged).
bool hf_is_nonspacing_mark(char32_t c);
// BertNormalizer's handle_chinese_chars: the CJK ideograph blocks it pads with spaces.
bool hf_is_chinese_char(char32_t c);
// StripAccents: the combining marks it removes (Mn, Mc, Me in HF's tables).
bool hf_is_combining_mark(char32_t c);
// Rust's char::to_lowercase, appended to `out` (one to three code points).
void hf_lowercase(char32_t c, std::u32string& out);

enum class NormalizationForm { NFC, NFD, NFKC, NFKD };

// Normalises `in` as HF's NormalizedString::nfc/nfd/nfkc/nfkd do (unicode-normalization-
// alignments' tables), as HF's transformations: each output code point with its change (0: takes
// the next input code point's place, n > 0: inserted, -n: takes the next place and removes n
// more), the form NormalizedString::transform applies to the alignments. `out` is replaced.
void hf_normalize(NormalizationForm form, const std::u32string& in,
                  std::vector<std::pair<char32_t, int>>& out);

// utf8proc's version the tables' exceptions were generated against (unicode_tables.inc); the
// exceptions are right only with that version, which the tests check.
const char* hf_tables_utf8proc_version();

}  // namespace embedflow::tokenizers
