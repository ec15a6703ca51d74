// libFuzzer target for BERT's WordPiece tokenizer (models/tokenizers/wordpiece.cpp) with the
// committed bert-base-uncased vocabulary, lower-casing (uncased models) or not (cased ones).
//
// Input: one byte of options (bit 0: cased; the rest: max_length), then the text. Invariants:
// invalid UTF-8 (by an independent check) is refused with std::invalid_argument and valid UTF-8
// never is; every id lies in [0, vocab size); encode() frames with [CLS] … [SEP], holds at most
// max_length ids and its pieces are the head of the untruncated tokenization (truncation
// drops only the tail); [CLS], [SEP] and [PAD] never come from text; the same text gives the
// same ids twice; each piece's string maps back to its id; Python-style strip is idempotent.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "fuzz_input.h"
#include "models/tokenizers/wordpiece.h"

namespace {

using embedflow::fuzz::check;
using embedflow::tokenizers::WordPieceOptions;
using embedflow::tokenizers::WordPieceTokenizer;

const WordPieceTokenizer& tokenizer(bool cased) {
  static const auto make = [](bool lowercase) {
    WordPieceOptions options;
    options.lowercase = lowercase;
    return std::make_unique<WordPieceTokenizer>(WordPieceTokenizer::from_vocab_file(
        embedflow::fuzz::repo_file("data/vocab/bert-base-uncased-vocab.txt"), options));
  };
  static const auto uncased = make(true);
  static const auto cased_one = make(false);
  return cased ? *cased_one : *uncased;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  embedflow::fuzz::ByteReader in(data, size);
  const uint8_t options = in.byte();
  const WordPieceTokenizer& tok = tokenizer(options & 1);
  // 2 (room for the framing only) to 129: short limits make truncation common.
  const size_t max_length = 2 + (options >> 1);
  const std::string text(reinterpret_cast<const char*>(in.rest()), in.rest_size());
  const bool valid = embedflow::fuzz::strict_utf8(text);

  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text, max_length);
  } catch (const std::invalid_argument& e) {
    check(!valid, std::string("valid UTF-8 refused: ") + e.what());
    return 0;
  } catch (const std::exception& e) {
    embedflow::fuzz::fail(std::string("encode threw ") + typeid(e).name() + ": " + e.what());
  }
  check(valid, "invalid UTF-8 accepted");

  const auto vocab = static_cast<int32_t>(tok.vocab_size());
  check(ids.size() >= 2 && ids.size() <= max_length, "encode gave " + std::to_string(ids.size()) +
                                                         " ids for max_length " +
                                                         std::to_string(max_length));
  check(ids.front() == tok.cls_id() && ids.back() == tok.sep_id(), "not framed by [CLS] [SEP]");
  for (size_t i = 0; i < ids.size(); ++i) {
    check(ids[i] >= 0 && ids[i] < vocab, "id " + std::to_string(ids[i]) + " out of range");
    if (i > 0 && i + 1 < ids.size())
      check(ids[i] != tok.cls_id() && ids[i] != tok.sep_id() && ids[i] != tok.pad_id(),
            "a special token came from the text");
  }
  check(tok.encode(text, max_length) == ids, "encode is not deterministic");

  const std::vector<int32_t> all = tok.tokenize_ids(text);
  const size_t kept = ids.size() - 2;
  check(kept == std::min(all.size(), max_length - 2), "truncation kept the wrong number of pieces");
  check(std::equal(ids.begin() + 1, ids.end() - 1, all.begin()),
        "the truncated pieces are not the head of the whole tokenization");
  for (int32_t id : all)
    check(tok.token_to_id(tok.id_to_token(id)) == id,
          "piece '" + tok.id_to_token(id) + "' maps to another id");

  const std::string stripped = embedflow::tokenizers::strip_python_whitespace(text);
  check(text.find(stripped) != std::string::npos, "strip did not return a substring");
  check(embedflow::fuzz::strict_utf8(stripped), "strip cut a character in two");
  check(embedflow::tokenizers::strip_python_whitespace(stripped) == stripped,
        "strip is not idempotent");
  return 0;
}
