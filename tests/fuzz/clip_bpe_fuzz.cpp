// libFuzzer target for CLIP's byte-level BPE tokenizer and its text cleaning
// (models/tokenizers/clip_bpe.cpp) with the committed openai/clip-vit-base-patch32 vocabulary.
//
// Input: one byte choosing the context length (2 to 129), then the text. Invariants: invalid
// UTF-8 (by an independent check) is refused with std::invalid_argument and valid UTF-8 never
// is; every id lies in [0, vocab size); tokenize() starts with <|startoftext|>, ends with
// <|endoftext|>, holds at most the context length and is the head of [BOS] + encode() (the
// tail is what truncation drops); the same text gives the same ids twice (the second time
// through the BPE cache); cleaning and HTML unescaping keep valid UTF-8 valid.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "fuzz_input.h"
#include "models/tokenizers/clip_bpe.h"

namespace {

using embedflow::fuzz::check;
using embedflow::tokenizers::ClipBpeTokenizer;

const ClipBpeTokenizer& tokenizer() {
  static const std::shared_ptr<const ClipBpeTokenizer> tok =
      ClipBpeTokenizer::from_files(embedflow::fuzz::repo_file("data/vocab/clip/vocab.json"),
                                   embedflow::fuzz::repo_file("data/vocab/clip/merges.txt"));
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ClipBpeTokenizer& tok = tokenizer();
  embedflow::fuzz::ByteReader in(data, size);
  const size_t context_length = 2 + (in.byte() & 0x7f);
  const std::string text(reinterpret_cast<const char*>(in.rest()), in.rest_size());
  const bool valid = embedflow::fuzz::strict_utf8(text);

  std::vector<int64_t> ids;
  try {
    ids = tok.tokenize(text, context_length);
  } catch (const std::invalid_argument& e) {
    check(!valid, std::string("valid UTF-8 refused: ") + e.what());
    return 0;
  } catch (const std::exception& e) {
    embedflow::fuzz::fail(std::string("tokenize threw ") + typeid(e).name() + ": " + e.what());
  }
  check(valid, "invalid UTF-8 accepted");

  const auto vocab = static_cast<int64_t>(tok.vocab_size());
  check(ids.size() >= 2 && ids.size() <= context_length,
        std::to_string(ids.size()) + " ids for context length " + std::to_string(context_length));
  check(ids.front() == tok.bos_id() && ids.back() == tok.eos_id(),
        "not framed by <|startoftext|> <|endoftext|>");
  for (int64_t id : ids) check(id >= 0 && id < vocab, "id " + std::to_string(id) + " out of range");
  check(tok.tokenize(text, context_length) == ids, "tokenize is not deterministic");

  const std::vector<int64_t> body = tok.encode(text);
  const size_t kept = ids.size() - 2;
  check(kept == std::min(body.size(), context_length - 2),
        "truncation kept the wrong number of tokens");
  check(std::equal(ids.begin() + 1, ids.end() - 1, body.begin()),
        "the truncated tokens are not the head of encode()");

  check(embedflow::fuzz::strict_utf8(embedflow::tokenizers::clip_clean_text(text)),
        "clip_clean_text made invalid UTF-8");
  check(embedflow::fuzz::strict_utf8(embedflow::tokenizers::html_unescape(text)),
        "html_unescape made invalid UTF-8");
  return 0;
}
