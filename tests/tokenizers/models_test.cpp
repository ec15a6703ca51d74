// The models alone (WordPiece, BPE, WordLevel, Unigram) against Hugging Face
// `tokenizers`: ids and offsets of every case in
// tests/fixtures/tokenizers/model_cases.jsonl, which make_model_cases.js wrote
// with the npm package (WhitespaceSplit pre-tokenizer, no normalizer), plus
// BPE's linear time on long words and the configuration errors.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "models/tokenizers/components.h"
#include "tests/support/test_support.h"

using embedflow::test::source_path;
using embedflow::tokenizers::Json;
using embedflow::tokenizers::JsonSite;
using embedflow::tokenizers::make_model;
using embedflow::tokenizers::Model;
using embedflow::tokenizers::NormalizedText;
using embedflow::tokenizers::Token;
using embedflow::tokenizers::TokenizerConfigError;

namespace {

const std::string kCases = "tests/fixtures/tokenizers/model_cases.jsonl";
const std::string kRoberta = "data/tokenizers/roberta-base";

struct Case {
  std::string model, text;
  std::vector<int32_t> ids;
  std::vector<std::pair<uint32_t, uint32_t>> offsets;
};

struct Fixture {
  std::map<std::string, Json> models;  // null json: roberta-base, read from kRoberta
  std::vector<Case> cases;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture f;
    std::ifstream in(source_path(kCases));
    REQUIRE(in);
    std::string line;
    while (std::getline(in, line)) {
      Json row = Json::parse(line);
      if (row.contains("model")) {
        f.models[row["model"].get<std::string>()] = row["json"];
      } else {
        Case c;
        c.model = row["case"].get<std::string>();
        c.text = row["text"].get<std::string>();
        c.ids = row["ids"].get<std::vector<int32_t>>();
        for (const auto& o : row["offsets"]) c.offsets.emplace_back(o[0], o[1]);
        f.cases.push_back(std::move(c));
      }
    }
    return f;
  }();
  return f;
}

Json roberta_json() {
  Json m = {{"type", "BPE"},           {"dropout", nullptr},     {"unk_token", nullptr},
            {"fuse_unk", false},       {"byte_fallback", false}, {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""}};
  std::ifstream v(source_path(kRoberta + "/vocab.json"));
  m["vocab"] = Json::parse(v);
  Json merges = Json::array();
  for (const auto& l : embedflow::test::read_lines(source_path(kRoberta + "/merges.txt")))
    if (!l.empty()) merges.push_back(l);
  m["merges"] = merges;
  return m;
}

std::unique_ptr<Model> build(const Json& json) {
  return make_model(json, JsonSite{"model_cases.jsonl", "/model"});
}

// WhitespaceSplit on the fixtures' ASCII spaces, then the model on each word.
std::vector<Token> run(const Model& model, const std::string& text) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(' ', i);
    if (j == std::string::npos) j = text.size();
    if (j > i) {
      auto word = NormalizedText::from_utf8(std::string_view(text).substr(i, j - i),
                                            static_cast<uint32_t>(i));
      model.tokenize(word, out);
    }
    i = j + 1;
  }
  return out;
}

Json tiny_bpe() {
  return Json::parse(R"({"type": "BPE", "unk_token": "<unk>",
    "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3}, "merges": ["a b"]})");
}

std::string config_error_path(const Json& json) {
  try {
    build(json);
  } catch (const TokenizerConfigError& e) {
    return e.json_path();
  }
  return "(no error)";
}

double seconds_for(const Model& model, const NormalizedText& word) {
  double best = 1e9;
  for (int round = 0; round < 2; ++round) {
    std::vector<Token> out;
    auto t0 = std::chrono::steady_clock::now();
    model.tokenize(word, out);
    std::chrono::duration<double> d = std::chrono::steady_clock::now() - t0;
    best = std::min(best, d.count());
    REQUIRE(!out.empty());
  }
  return best;
}

}  // namespace

TEST_CASE("models: ids and offsets equal HF tokenizers on every fixture case") {
  const auto& f = fixture();
  REQUIRE(f.models.size() >= 15);
  REQUIRE(f.cases.size() >= 40);
  // roberta-base's real BPE is part of the repository (data/tokenizers/): its cases always run.
  REQUIRE(std::filesystem::exists(source_path(kRoberta + "/merges.txt")));
  std::map<std::string, std::unique_ptr<Model>> models;
  for (const auto& [name, json] : f.models) {
    INFO("model " << name);
    models[name] = build(json.is_null() ? roberta_json() : json);
  }
  size_t checked = 0;
  for (const auto& c : f.cases) {
    if (!models.count(c.model)) continue;
    INFO("model " << c.model << " text \"" << c.text << "\"");
    auto tokens = run(*models.at(c.model), c.text);
    std::vector<int32_t> ids;
    std::vector<std::pair<uint32_t, uint32_t>> offsets;
    for (const auto& t : tokens) {
      ids.push_back(t.id);
      offsets.emplace_back(t.start, t.end);
    }
    CHECK(ids == c.ids);
    CHECK(offsets == c.offsets);
    ++checked;
  }
  CHECK(checked >= 40);
}

TEST_CASE("models: vocabulary lookups both ways") {
  const auto& f = fixture();
  auto bpe = build(f.models.at("bpe_unk"));
  CHECK(bpe->vocab_size() == f.models.at("bpe_unk")["vocab"].size());
  CHECK(bpe->token_to_id("abc") == 9);
  CHECK(bpe->token_to_id("zz") == -1);
  REQUIRE(bpe->id_to_token(9) != nullptr);
  CHECK(*bpe->id_to_token(9) == "abc");
  CHECK(bpe->id_to_token(100000) == nullptr);
  CHECK(bpe->id_to_token(-1) == nullptr);

  auto uni = build(f.models.at("unigram"));
  CHECK(uni->vocab_size() == f.models.at("unigram")["vocab"].size());
  CHECK(uni->token_to_id("ab") == 4);
  REQUIRE(uni->id_to_token(4) != nullptr);
  CHECK(*uni->id_to_token(4) == "ab");
  CHECK(uni->id_to_token(static_cast<int32_t>(uni->vocab_size())) == nullptr);

  auto wp = build(f.models.at("wordpiece"));
  CHECK(wp->token_to_id("##able") == 3);
  CHECK(*wp->id_to_token(3) == "##able");
}

TEST_CASE(
    "models: unk tokens missing from the vocabulary fail at tokenize "
    "time as in HF") {
  Json bpe = tiny_bpe();
  bpe["unk_token"] = "<nope>";
  auto model = build(bpe);
  std::vector<Token> out;
  model->tokenize(NormalizedText::from_utf8("ab"), out);
  CHECK(out.size() == 1);
  CHECK_THROWS_AS(model->tokenize(NormalizedText::from_utf8("abz"), out), std::invalid_argument);

  auto uni = build(Json::parse(R"({"type": "Unigram", "unk_id": null, "vocab": [["a", -1.0]]})"));
  CHECK_THROWS_AS(uni->tokenize(NormalizedText::from_utf8("ab"), out), std::invalid_argument);
}

TEST_CASE("models: BPE merges in time linear in the word length") {
  // Few symbols and many merges: every position keeps merging, as in real text.
  auto model = build(fixture().models.at("bpe_strings"));
  std::mt19937 rng(7);
  std::string big(1 << 20, 'a');
  for (char& c : big) c = "abcde"[rng() % 5];
  auto small_word = NormalizedText::from_utf8(std::string_view(big).substr(0, big.size() / 10));
  auto big_word = NormalizedText::from_utf8(big);
  double t_small = seconds_for(*model, small_word);
  double t_big = seconds_for(*model, big_word);
  INFO("100 KB: " << t_small << " s, 1 MB: " << t_big << " s");
  // n log n gives ~12x; the quadratic rescan would give ~100x.
  CHECK(t_big < 40 * t_small + 0.05);
}

TEST_CASE("models: bad options are configuration errors at their JSON path") {
  Json j = tiny_bpe();
  j["dropout"] = 0.1;
  CHECK(config_error_path(j) == "/model/dropout");
  j["dropout"] = 0.0;
  CHECK(config_error_path(j) == "(no error)");
  j["dropout"] = nullptr;
  CHECK(config_error_path(j) == "(no error)");

  j = tiny_bpe();
  j["cache_capacity"] = 10;  // not part of HF's serialised BPE
  CHECK(config_error_path(j).rfind("/model", 0) == 0);

  j = tiny_bpe();
  j["type"] = "Sentencepiece";
  CHECK(config_error_path(j) == "/model/type");

  j = tiny_bpe();
  j["merges"] = {"a b", "ab c"};
  CHECK(config_error_path(j) == "/model/merges/1");
  j["merges"] = {"a b c"};
  CHECK(config_error_path(j) == "/model/merges/0");
  j = tiny_bpe();
  j["vocab"]["b"] = -2;
  CHECK(config_error_path(j) == "/model/vocab/b");
  j = tiny_bpe();
  j["fuse_unk"] = "yes";
  CHECK(config_error_path(j) == "/model/fuse_unk");
  j = tiny_bpe();
  j.erase("merges");
  CHECK(config_error_path(j) == "/model");

  Json wp = Json::parse(R"({"type": "WordPiece", "unk_token": "[UNK]",
    "continuing_subword_prefix": "##", "vocab": {"[UNK]": 0}})");
  CHECK(config_error_path(wp) == "/model");  // HF requires max_input_chars_per_word
  wp["max_input_chars_per_word"] = -1;
  CHECK(config_error_path(wp) == "/model/max_input_chars_per_word");

  Json uni = Json::parse(R"({"type": "Unigram", "unk_id": 2, "vocab": [["a", -1.0], ["b", -2]]})");
  CHECK(config_error_path(uni) == "/model/unk_id");
  uni["unk_id"] = 0;
  uni["vocab"][1] = {"b"};
  CHECK(config_error_path(uni) == "/model/vocab/1");
  uni["vocab"][1] = Json::array({"b", -2.0});
  uni["byte_fallback"] = 1;
  CHECK(config_error_path(uni) == "/model/byte_fallback");

  CHECK(config_error_path(Json::parse(R"({"vocab": 3})")) == "/model");
  CHECK(config_error_path(Json::array()) == "/model");
}
