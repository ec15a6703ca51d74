// libFuzzer target for the tokenizer engine (models/tokenizers/) on CLIP's byte-level BPE: the
// published openai/clip-vit-base-patch32 tokenizer.json (NFC, whitespace collapse, lower-case,
// CLIP's Split, ByteLevel, BPE with "</w>", <|startoftext|> $A <|endoftext|>), with or without
// OpenAI's text cleaning first (openai_clip_text.h), as encode.clip_text runs it.
//
// Input: one byte (bit 7: OpenAI cleaning; the rest: context length 2 to 129), then the text.
// Invariants: tokenizer_checks.h; cleaning and HTML unescaping keep valid UTF-8 valid and never
// make invalid UTF-8 valid.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz_input.h"
#include "models/tokenizers/openai_clip_text.h"
#include "models/tokenizers/tokenizer.h"
#include "tokenizer_checks.h"

namespace {

using embedflow::fuzz::check;
using embedflow::tokenizers::Tokenizer;

const Tokenizer& tokenizer() {
  static const auto tok = Tokenizer::from_file(
      embedflow::fuzz::repo_file("data/tokenizers/clip-vit-base-patch32/tokenizer.json"));
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tokenizer& tok = tokenizer();
  embedflow::fuzz::ByteReader in(data, size);
  const uint8_t options = in.byte();
  const bool openai = options & 0x80;
  const size_t context_length = 2 + (options & 0x7f);
  std::string text(reinterpret_cast<const char*>(in.rest()), in.rest_size());
  const bool valid = embedflow::fuzz::strict_utf8(text);
  if (openai) {
    try {
      text = embedflow::tokenizers::clip_clean_text(text);
    } catch (const std::invalid_argument& e) {
      check(!valid, std::string("cleaning refused valid UTF-8: ") + e.what());
      return 0;
    }
    check(valid, "cleaning accepted invalid UTF-8");
  }
  embedflow::fuzz::check_encoding(tok, text, context_length, tok.token_to_id("<|startoftext|>"),
                                  tok.token_to_id("<|endoftext|>"));
  if (valid) {
    check(embedflow::fuzz::strict_utf8(embedflow::tokenizers::clip_clean_text(text)),
          "clip_clean_text made invalid UTF-8");
    check(embedflow::fuzz::strict_utf8(embedflow::tokenizers::html_unescape(text)),
          "html_unescape made invalid UTF-8");
  }
  return 0;
}
