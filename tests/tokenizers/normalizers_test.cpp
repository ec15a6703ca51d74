// Normalizer parity: every normalizer and option set of tests/fixtures/tokenizers/
// normalizer_cases.jsonl (written by make_normalizer_cases.js from Hugging Face `tokenizers`)
// must give the oracle's text and, for every output code point, the oracle's original range;
// plus the unicode tables' exactness and the factory's configuration errors.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <utf8proc.h>
#include <nlohmann/json.hpp>

#include "models/tokenizers/components.h"
#include "models/tokenizers/unicode.h"
#include "tests/support/test_support.h"

using embedflow::test::source_path;
using namespace embedflow::tokenizers;

namespace {

struct Case {
  std::string group;
  Json normalizer;
  std::string input, expected;
  std::vector<std::pair<uint32_t, uint32_t>> offsets;  // code points of the input
};

std::vector<Case> load_cases() {
  // SentencePiece's nmt_nfkc rules, as the trained fixture model carries them.
  const std::string charsmap =
      Json::parse(embedflow::test::read_file(
                      source_path("tests/fixtures/tokenizers/models/spm-nmt-nfkc/tokenizer.json")))
          .at("normalizer")
          .at("normalizers")
          .at(0)
          .at("precompiled_charsmap")
          .get<std::string>();
  std::ifstream f(source_path("tests/fixtures/tokenizers/normalizer_cases.jsonl"));
  REQUIRE(f);
  std::vector<Case> cases;
  std::string line;
  while (std::getline(f, line)) {
    Json row = Json::parse(line);
    Case c;
    c.group = row["group"].get<std::string>();
    c.normalizer = row["normalizer"];
    if (c.normalizer.value("precompiled_charsmap", "") == "@nmt_nfkc")
      c.normalizer["precompiled_charsmap"] = charsmap;
    c.input = row["input"].get<std::string>();
    c.expected = row["expected"].get<std::string>();
    for (const auto& o : row["offsets"])
      c.offsets.emplace_back(o[0].get<uint32_t>(), o[1].get<uint32_t>());
    cases.push_back(std::move(c));
  }
  return cases;
}

// Byte offset of the input -> code point index.
uint32_t code_point_index(const std::string& s, uint32_t byte) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < byte && i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
  return n;
}

void check_group(const std::string& group) {
  const auto cases = load_cases();
  size_t checked = 0;
  for (const Case& c : cases) {
    if (c.group != group) continue;
    ++checked;
    INFO("normalizer " << c.normalizer.dump().substr(0, 200) << "\ninput: " << c.input);
    auto normalizer = make_normalizer(c.normalizer, {"normalizer_cases.jsonl", "/normalizer"});
    NormalizedText text = NormalizedText::from_utf8(c.input);
    normalizer->normalize(text);
    CHECK(text.utf8() == c.expected);
    REQUIRE(text.align.size() == text.chars.size());
    std::string offsets, expected_offsets;
    for (const auto& [b, e] : text.align)
      offsets += std::to_string(code_point_index(c.input, b)) + "-" +
                 std::to_string(code_point_index(c.input, e)) + " ";
    for (const auto& [b, e] : c.offsets)
      expected_offsets += std::to_string(b) + "-" + std::to_string(e) + " ";
    CHECK(offsets == expected_offsets);
  }
  CHECK(checked > 0);
}

std::string config_error_path(const std::string& json) {
  try {
    make_normalizer(Json::parse(json), {"tokenizer.json", "/normalizer"});
  } catch (const TokenizerConfigError& e) {
    return e.json_path();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("normalizers match the oracle on every fixture case", "[tokenizers][normalizers]") {
  check_group("plain");
}

TEST_CASE("Replace with a regex pattern matches the oracle", "[tokenizers][normalizers]") {
  check_group("regex");
}

TEST_CASE("unicode tables were generated against this utf8proc", "[tokenizers][unicode]") {
  CHECK(std::string(hf_tables_utf8proc_version()) == utf8proc_version());
}

TEST_CASE("unicode properties follow HF's tables", "[tokenizers][unicode]") {
  CHECK(hf_bert_is_whitespace(U' '));
  CHECK(hf_bert_is_whitespace(0x3000));
  CHECK(hf_bert_is_whitespace(0x85));
  CHECK_FALSE(hf_bert_is_whitespace(0x200B));
  CHECK(hf_bert_is_control(0x85));
  CHECK_FALSE(hf_bert_is_control(U'\t'));
  CHECK(hf_bert_is_punctuation(U'$'));
  CHECK(hf_bert_is_punctuation(0x3001));
  CHECK_FALSE(hf_bert_is_punctuation(U'a'));
  CHECK(hf_is_chinese_char(0x4E00));
  CHECK_FALSE(hf_is_chinese_char(0x3042));
  CHECK(hf_is_combining_mark(0x0301));
  std::u32string lower;
  hf_lowercase(0x0130, lower);  // Rust's full mapping: i + combining dot above
  CHECK(lower == U"i\u0307");
}

TEST_CASE("from_utf8 rejects invalid UTF-8 naming the byte", "[tokenizers][normalizers]") {
  CHECK_THROWS_WITH(NormalizedText::from_utf8("ab\xC3"), "invalid UTF-8 at byte 2");
  CHECK_THROWS_WITH(NormalizedText::from_utf8("\xED\xA0\x80"), "invalid UTF-8 at byte 0");
  CHECK_THROWS_WITH(NormalizedText::from_utf8("x\xC0\xAF"), "invalid UTF-8 at byte 1");
  NormalizedText t = NormalizedText::from_utf8("aé", 10);
  REQUIRE(t.size() == 2);
  CHECK(t.align[1] == std::pair<uint32_t, uint32_t>(11, 13));
  CHECK(t.slice(1, 2).utf8() == "é");
}

TEST_CASE("normalizer configuration errors name the JSON path", "[tokenizers][normalizers]") {
  CHECK(config_error_path(R"({"type":"Bogus"})") == "/normalizer/type");
  CHECK(config_error_path(R"({"clean_text":true})") == "/normalizer/type");
  CHECK(config_error_path(R"({"type":"NFC","foo":1})") == "/normalizer/foo");
  CHECK(config_error_path(R"({"type":"Strip","strip_left":true})") == "/normalizer/strip_right");
  CHECK(
      config_error_path(
          R"({"type":"BertNormalizer","clean_text":1,"handle_chinese_chars":true,"lowercase":true})") ==
      "/normalizer/clean_text");
  CHECK(config_error_path(R"({"type":"BertNormalizer","clean_text":true,"lowercase":true})") ==
        "/normalizer/handle_chinese_chars");
  CHECK(config_error_path(R"({"type":"Replace","pattern":{"Glob":"x"},"content":""})") ==
        "/normalizer/pattern/Glob");
  CHECK(config_error_path(
            R"({"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"Lowercase","x":1}]})") ==
        "/normalizer/normalizers/1/x");
  CHECK(config_error_path(R"({"type":"Sequence","normalizers":[{"type":"Nope"}]})") ==
        "/normalizer/normalizers/0/type");
  CHECK(config_error_path(R"({"type":"Precompiled","precompiled_charsmap":"!!"})") ==
        "/normalizer/precompiled_charsmap");
  CHECK(config_error_path(R"({"type":"Prepend","prepend":"x"})") == "(no error)");
}
