// libFuzzer target for the tokenizer engine (models/tokenizers/) on a WordPiece tokenizer.json:
// the published all-MiniLM-L6-v2 file as it is (BertNormalizer lower-casing, BertPreTokenizer,
// WordPiece, [CLS] $A [SEP], special tokens matched in the text), or with lowercase off.
//
// Input: one byte of options (bit 0: cased; the rest: max_length), then the text. Invariants:
// tokenizer_checks.h; each id's token maps back to it; Python-style strip is idempotent.
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "models/tokenizers/python_text.h"
#include "models/tokenizers/tokenizer.h"
#include "tokenizer_checks.h"

namespace {

using embedflow::fuzz::check;
using embedflow::tokenizers::Tokenizer;

const Tokenizer& tokenizer(bool cased) {
  static const auto make = [](bool lowercase) {
    const std::string path =
        embedflow::fuzz::repo_file("data/tokenizers/all-MiniLM-L6-v2/tokenizer.json");
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto json = nlohmann::json::parse(text.str());
    json["normalizer"]["lowercase"] = lowercase;
    return Tokenizer::from_json(json.dump(), path);
  };
  static const auto uncased = make(true);
  static const auto cased_one = make(false);
  return cased ? *cased_one : *uncased;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  embedflow::fuzz::ByteReader in(data, size);
  const uint8_t options = in.byte();
  const Tokenizer& tok = tokenizer(options & 1);
  // 2 (room for the framing only) to 129: short limits make truncation common.
  const size_t max_length = 2 + (options >> 1);
  const std::string text(reinterpret_cast<const char*>(in.rest()), in.rest_size());
  embedflow::fuzz::check_encoding(tok, text, max_length, tok.token_to_id("[CLS]"),
                                  tok.token_to_id("[SEP]"));
  if (!embedflow::fuzz::strict_utf8(text)) return 0;

  for (int32_t id : tok.encode_ids(text, max_length, false))
    check(tok.token_to_id(tok.id_to_token(id)) == id,
          "token '" + tok.id_to_token(id) + "' maps to another id");

  const std::string stripped = embedflow::tokenizers::strip_python_whitespace(text);
  check(text.find(stripped) != std::string::npos, "strip did not return a substring");
  check(embedflow::fuzz::strict_utf8(stripped), "strip cut a character in two");
  check(embedflow::tokenizers::strip_python_whitespace(stripped) == stripped,
        "strip is not idempotent");
  return 0;
}
