// WordPiece tokenizer parity: token ids of every fixture sentence must equal those of the
// independent Python reference (tests/fixtures/text/reference_tokenizer.py), under four
// normaliser configurations, with the real bert-base-uncased vocabulary.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "models/tokenizers/wordpiece.h"
#include "tests/support/test_support.h"

using embedflow::test::source_path;
using embedflow::tokenizers::WordPieceOptions;
using embedflow::tokenizers::WordPieceTokenizer;
using Json = nlohmann::json;

namespace {

const std::string kVocab = "data/vocab/bert-base-uncased-vocab.txt";

struct Case {
  std::string text;
  bool variants = false;
  std::map<std::string, std::vector<int32_t>> ids;
};

std::vector<Case> load_cases() {
  std::ifstream f(source_path("tests/fixtures/text/tokenizer_cases.jsonl"));
  REQUIRE(f);
  std::vector<Case> cases;
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    Json row = Json::parse(line);
    Case c;
    c.text = row["text"].get<std::string>();
    c.variants = row["variants"].get<bool>();
    for (auto& [name, ids] : row["ids"].items()) c.ids[name] = ids.get<std::vector<int32_t>>();
    cases.push_back(std::move(c));
  }
  return cases;
}

WordPieceTokenizer make(const std::string& config) {
  WordPieceOptions o;
  if (config == "cased") o.lowercase = false;
  if (config == "lower_keep_accents") o.strip_accents = false;
  if (config == "no_chinese_split") o.handle_chinese_chars = false;
  return WordPieceTokenizer::from_vocab_file(source_path(kVocab), o);
}

std::string show(const WordPieceTokenizer& tok, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += tok.id_to_token(id) + " ";
  return s;
}

}  // namespace

TEST_CASE("wordpiece: token ids equal the reference on every fixture sentence") {
  auto cases = load_cases();
  REQUIRE(cases.size() >= 300);
  for (const char* config : {"uncased", "cased", "lower_keep_accents", "no_chinese_split"}) {
    auto tok = make(config);
    size_t checked = 0, exact = 0;
    for (const auto& c : cases) {
      std::vector<int32_t> expected;
      if (c.ids.count(config))
        expected = c.ids.at(config);
      else if (c.variants)
        expected = c.ids.at("uncased");  // stored only when it differs
      else
        continue;  // not covered for this config
      auto got = tok.tokenize_ids(c.text);
      ++checked;
      if (got == expected) {
        ++exact;
      } else {
        INFO("config " << config << ", text: " << c.text);
        INFO("expected: " << show(tok, expected));
        INFO("got:      " << show(tok, got));
        CHECK(got == expected);
      }
    }
    INFO("config " << config);
    CHECK(exact == checked);
    CHECK(checked >= (std::string(config) == "uncased" ? 300u : 150u));
  }
}

TEST_CASE("wordpiece: encode adds [CLS]/[SEP] and truncates like HF") {
  auto cases = load_cases();
  auto tok = make("uncased");
  REQUIRE(tok.cls_id() == 101);
  REQUIRE(tok.sep_id() == 102);
  size_t truncated = 0;
  for (const auto& c : cases) {
    const auto& pieces = c.ids.at("uncased");
    for (size_t max_len : {size_t(256), size_t(16), size_t(2)}) {
      std::vector<int32_t> expected{101};
      expected.insert(expected.end(), pieces.begin(),
                      pieces.begin() + std::min(pieces.size(), max_len - 2));
      expected.push_back(102);
      INFO("text: " << c.text << ", max_length " << max_len);
      REQUIRE(tok.encode(c.text, max_len) == expected);
    }
    if (pieces.size() > 254) ++truncated;
  }
  CHECK(truncated >= 5);  // the fixture exercises truncation at 256
}

TEST_CASE("wordpiece: known splits of the real vocabulary") {
  auto tok = make("uncased");
  CHECK(tok.tokenize("Hello, World!") == std::vector<std::string>{"hello", ",", "world", "!"});
  // The example of HF's tokenizer documentation for bert-base-uncased.
  CHECK(tok.tokenize("I have a new GPU!") ==
        std::vector<std::string>{"i", "have", "a", "new", "gp", "##u", "!"});
  CHECK(tok.tokenize(std::string(101, 'a')) == std::vector<std::string>{"[UNK]"});
  CHECK(tok.encode("", 256) == std::vector<int32_t>{101, 102});
}

TEST_CASE("wordpiece: invalid UTF-8 is an error, not a crash") {
  auto tok = make("uncased");
  for (std::string bad : {std::string("abc\xff"), std::string("\xc3"), std::string("\xed\xa0\x80"),
                          std::string("\xc0\xaf overlong")}) {
    INFO("bytes: " << bad);
    CHECK_THROWS_AS(tok.encode(bad, 256), std::invalid_argument);
  }
}

TEST_CASE("wordpiece: a 1 MB line tokenises quickly and truncates") {
  auto tok = make("uncased");
  std::string line;
  while (line.size() < (1u << 20)) line += "the quick brown fox jumps over the lazy dog ";
  auto ids = tok.encode(line, 256);
  REQUIRE(ids.size() == 256);
  CHECK(ids[1] == tok.token_to_id("the"));
  CHECK(ids.back() == 102);
  std::string one_word(1u << 20, 'x');
  CHECK(tok.encode(one_word, 256) == std::vector<int32_t>{101, tok.unk_id(), 102});
}

TEST_CASE("strip_python_whitespace matches str.strip()") {
  using embedflow::tokenizers::strip_python_whitespace;
  CHECK(strip_python_whitespace("  a b  ") == "a b");
  CHECK(strip_python_whitespace("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f x \xc2\x85") == "x");
  CHECK(strip_python_whitespace("\u3000\u00a0\u2028x\u2029\u202f\u205f") == "x");
  // Not whitespace for Python: zero-width space (Cf) and NUL.
  CHECK(strip_python_whitespace("\u200bx\u200b") == "\u200bx\u200b");
  CHECK(strip_python_whitespace(std::string("\0x", 2)) == std::string("\0x", 2));
  CHECK(strip_python_whitespace("   ") == "");
  CHECK(strip_python_whitespace("") == "");
}

TEST_CASE("wordpiece: loading a folder names what is missing") {
  embedflow::test::TempDir dir("tok");
  CHECK_THROWS_WITH(WordPieceTokenizer::from_folder(dir.path()),
                    Catch::Contains("expected tokenizer.json") && Catch::Contains("vocab.txt"));
  embedflow::test::write_file(dir.file("tokenizer.json"),
                              R"({"model": {"type": "BPE", "vocab": {}}})");
  CHECK_THROWS_WITH(
      WordPieceTokenizer::from_folder(dir.path()),
      Catch::Contains("tokenizer.json") && Catch::Contains("WordPiece") && Catch::Contains("BPE"));
  embedflow::test::write_file(
      dir.file("tokenizer.json"),
      R"({"normalizer": {"type": "BertNormalizer", "clean_text": true, "lowercase": false},
          "pre_tokenizer": {"type": "BertPreTokenizer"},
          "model": {"type": "WordPiece", "unk_token": "[UNK]", "max_input_chars_per_word": 5,
                    "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "ab": 3, "##c": 4, "é": 5}}})");
  // No tokenizer_config.json: BertTokenizerFast's defaults (lower-case) win over tokenizer.json.
  auto tok = WordPieceTokenizer::from_folder(dir.path());
  CHECK(tok.encode("ABC abcdef É", 16) == std::vector<int32_t>{1, 3, 4, 0, 0, 2});
  embedflow::test::write_file(dir.file("tokenizer_config.json"),
                              R"({"do_lower_case": false, "strip_accents": false})");
  tok = WordPieceTokenizer::from_folder(dir.path());
  CHECK(tok.encode("abc ABC é", 16) == std::vector<int32_t>{1, 3, 4, 0, 5, 2});
}
