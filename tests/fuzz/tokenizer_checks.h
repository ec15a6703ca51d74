// The invariants every tokenizer fuzz target checks on one encoding (wordpiece_fuzz,
// clip_bpe_fuzz): invalid UTF-8 (by an independent check) is refused with std::invalid_argument
// and valid UTF-8 never is; every id lies in [0, vocab size); the encoding is framed by the
// post-processor's first and last special tokens, holds at most max_length ids, and its body is
// the head of the untruncated encoding without special tokens (truncation drops only the tail);
// offsets lie within the text, on character boundaries, in order; the same text gives the same
// encoding twice.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "fuzz_input.h"
#include "models/tokenizers/tokenizer.h"

namespace embedflow::fuzz {

inline bool is_char_boundary(const std::string& s, size_t pos) {
  return pos == s.size() || (static_cast<unsigned char>(s[pos]) & 0xC0) != 0x80;
}

// Checks `tok` on `text` truncated to `max_length` (>= 2), framed by `first` … `last`.
inline void check_encoding(const tokenizers::Tokenizer& tok, const std::string& text,
                           size_t max_length, int32_t first, int32_t last) {
  const bool valid = strict_utf8(text);
  tokenizers::Encoding enc;
  try {
    enc = tok.encode(text, max_length);
  } catch (const std::invalid_argument& e) {
    check(!valid, std::string("valid UTF-8 refused: ") + e.what());
    return;
  } catch (const std::exception& e) {
    fail(std::string("encode threw ") + typeid(e).name() + ": " + e.what());
  }
  check(valid, "invalid UTF-8 accepted");

  const auto& ids = enc.ids;
  check(ids.size() >= 2 && ids.size() <= max_length,
        std::to_string(ids.size()) + " ids for max_length " + std::to_string(max_length));
  check(enc.type_ids.size() == ids.size() && enc.offsets.size() == ids.size() &&
            enc.special.size() == ids.size(),
        "the encoding's fields differ in length");
  check(ids.front() == first && ids.back() == last, "not framed by the special tokens");
  check(enc.special.front() == 1 && enc.special.back() == 1, "the framing is not marked special");
  const auto vocab = static_cast<int32_t>(tok.vocab_size());
  uint32_t previous_start = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    check(ids[i] >= 0 && ids[i] < vocab, "id " + std::to_string(ids[i]) + " out of range");
    auto [start, end] = enc.offsets[i];
    check(start <= end && end <= text.size(), "offsets outside the text");
    check(is_char_boundary(text, start) && is_char_boundary(text, end),
          "offsets cut a character in two");
    if (!enc.special[i]) {
      check(start >= previous_start, "offsets go backwards");
      previous_start = start;
    }
  }
  check(tok.encode(text, max_length).ids == ids, "encode is not deterministic");

  const std::vector<int32_t> body =
      tok.encode_ids(text, tokenizers::Tokenizer::kNoTruncation, false);
  const size_t kept = ids.size() - 2;
  check(kept == std::min(body.size(), max_length - 2), "truncation kept the wrong number of ids");
  check(std::equal(ids.begin() + 1, ids.end() - 1, body.begin()),
        "the truncated ids are not the head of the whole encoding");
}

}  // namespace embedflow::fuzz
