// The BERT family's folders without a tokenizer.json (vocab.txt + tokenizer_config.json, as
// folder_loaders.cpp converts them): token ids of every fixture sentence must equal those of the
// independent Python reference (tests/fixtures/text/reference_tokenizer.py), under four
// normaliser configurations, with the real bert-base-uncased vocabulary. And how a folder's
// tokenizer_config.json overrides its tokenizer.json's BertNormalizer, as BertTokenizerFast does.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/tokenizers/python_text.h"
#include "models/tokenizers/tokenizer.h"
#include "tests/support/test_support.h"

using embedflow::test::source_path;
using embedflow::tokenizers::Tokenizer;
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

// A folder holding the real vocab.txt and a tokenizer_config.json for `config`.
std::shared_ptr<const Tokenizer> make(const std::string& config) {
  static std::map<std::string, std::shared_ptr<const Tokenizer>> made;
  auto& tok = made[config];
  if (tok) return tok;
  embedflow::test::TempDir dir("bert_" + config);
  std::ifstream in(source_path(kVocab), std::ios::binary);
  std::ostringstream vocab;
  vocab << in.rdbuf();
  embedflow::test::write_file(dir.file("vocab.txt"), vocab.str());
  Json cfg = {{"tokenizer_class", "BertTokenizer"}};
  if (config == "cased") cfg["do_lower_case"] = false;
  if (config == "lower_keep_accents") cfg["strip_accents"] = false;
  if (config == "no_chinese_split") cfg["tokenize_chinese_chars"] = false;
  embedflow::test::write_file(dir.file("tokenizer_config.json"), cfg.dump());
  tok = Tokenizer::from_folder(dir.path());
  return tok;
}

std::vector<int32_t> pieces(const Tokenizer& tok, const std::string& text) {
  return tok.encode_ids(text, Tokenizer::kNoLimit, false);
}

std::vector<std::string> piece_strings(const Tokenizer& tok, const std::string& text) {
  std::vector<std::string> out;
  for (int32_t id : pieces(tok, text)) out.push_back(tok.id_to_token(id));
  return out;
}

std::string show(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += tok.id_to_token(id) + " ";
  return s;
}

}  // namespace

TEST_CASE("bert vocab.txt folder: token ids equal the reference on every fixture sentence") {
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
      auto got = pieces(*tok, c.text);
      ++checked;
      if (got == expected) {
        ++exact;
      } else {
        INFO("config " << config << ", text: " << c.text);
        INFO("expected: " << show(*tok, expected));
        INFO("got:      " << show(*tok, got));
        CHECK(got == expected);
      }
    }
    INFO("config " << config);
    CHECK(exact == checked);
    CHECK(checked >= (std::string(config) == "uncased" ? 300u : 150u));
  }
}

TEST_CASE("bert vocab.txt folder: encode adds [CLS]/[SEP] and truncates like HF") {
  auto cases = load_cases();
  auto tok = make("uncased");
  REQUIRE(tok->token_to_id("[CLS]") == 101);
  REQUIRE(tok->token_to_id("[SEP]") == 102);
  size_t truncated = 0;
  for (const auto& c : cases) {
    const auto& pieces = c.ids.at("uncased");
    for (size_t max_len : {size_t(256), size_t(16), size_t(2)}) {
      std::vector<int32_t> expected{101};
      expected.insert(expected.end(), pieces.begin(),
                      pieces.begin() + std::min(pieces.size(), max_len - 2));
      expected.push_back(102);
      INFO("text: " << c.text << ", max_length " << max_len);
      REQUIRE(tok->encode_ids(c.text, max_len) == expected);
    }
    if (pieces.size() > 254) ++truncated;
  }
  CHECK(truncated >= 5);  // the fixture exercises truncation at 256
}

TEST_CASE("bert vocab.txt folder: known splits of the real vocabulary") {
  auto tok = make("uncased");
  CHECK(piece_strings(*tok, "Hello, World!") ==
        std::vector<std::string>{"hello", ",", "world", "!"});
  // The example of HF's tokenizer documentation for bert-base-uncased.
  CHECK(piece_strings(*tok, "I have a new GPU!") ==
        std::vector<std::string>{"i", "have", "a", "new", "gp", "##u", "!"});
  CHECK(piece_strings(*tok, std::string(101, 'a')) == std::vector<std::string>{"[UNK]"});
  CHECK(tok->encode_ids("", 256) == std::vector<int32_t>{101, 102});
  // Special tokens written in the text are the special tokens (HF's added-token matching).
  CHECK(tok->encode_ids("The capital of France is [MASK].", 256) ==
        std::vector<int32_t>{101, 1996, 3007, 1997, 2605, 2003, 103, 1012, 102});
}

TEST_CASE("bert vocab.txt folder: invalid UTF-8 is an error and not a crash") {
  auto tok = make("uncased");
  for (std::string bad : {std::string("abc\xff"), std::string("\xc3"), std::string("\xed\xa0\x80"),
                          std::string("\xc0\xaf overlong")}) {
    INFO("bytes: " << bad);
    CHECK_THROWS_AS(tok->encode(bad, 256), std::invalid_argument);
  }
}

TEST_CASE("bert vocab.txt folder: a 1 MB line tokenises and truncates") {
  auto tok = make("uncased");
  std::string line;
  while (line.size() < (1u << 20)) line += "the quick brown fox jumps over the lazy dog ";
  auto ids = tok->encode_ids(line, 256);
  REQUIRE(ids.size() == 256);
  CHECK(ids[1] == tok->token_to_id("the"));
  CHECK(ids.back() == 102);
  std::string one_word(1u << 20, 'x');
  CHECK(tok->encode_ids(one_word, 256) ==
        std::vector<int32_t>{101, tok->token_to_id("[UNK]"), 102});
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

TEST_CASE("bert folder: tokenizer_config.json overrides the BertNormalizer of tokenizer.json") {
  embedflow::test::TempDir dir("tok");
  CHECK_THROWS_WITH(Tokenizer::from_folder(dir.path()),
                    Catch::Contains("expected tokenizer.json") && Catch::Contains("vocab.txt"));
  embedflow::test::write_file(dir.file("tokenizer.json"),
                              R"({"normalizer": {"type": "BertNormalizer", "clean_text": true,
                         "handle_chinese_chars": true, "lowercase": false},
          "pre_tokenizer": {"type": "BertPreTokenizer"},
          "model": {"type": "WordPiece", "unk_token": "[UNK]", "max_input_chars_per_word": 5,
                    "continuing_subword_prefix": "##",
                    "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "ab": 3, "##c": 4, "é": 5}}})");
  // Alone, tokenizer.json's normaliser is used as written (cased), as HF's Tokenizer does.
  auto tok = Tokenizer::from_folder(dir.path());
  CHECK(tok->encode_ids("ABC abc", 16, false) == std::vector<int32_t>{0, 3, 4});
  // A BERT model folder: BertTokenizerFast's defaults (lower-case) win over tokenizer.json.
  embedflow::test::write_file(dir.file("config.json"), R"({"model_type": "bert"})");
  tok = Tokenizer::from_folder(dir.path());
  CHECK(tok->encode_ids("ABC abcdef É", 16, false) == std::vector<int32_t>{3, 4, 0, 0});
  embedflow::test::write_file(dir.file("tokenizer_config.json"),
                              R"({"do_lower_case": false, "strip_accents": false})");
  tok = Tokenizer::from_folder(dir.path());
  CHECK(tok->encode_ids("abc ABC é", 16, false) == std::vector<int32_t>{3, 4, 0, 5});
}
