// Pre-tokenizers and HfRegex against Hugging Face `tokenizers`: the pieces and
// byte offsets of every fixture text under every pre-tokenizer and option, and
// the matches of the regexes real tokenizers use, must be the oracle's
// (tests/fixtures/tokenizers/make_pre_tokenizer_cases.js). Plus the errors a
// tokenizer.json gets for what we do not implement, with their JSON paths.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/tokenizers/components.h"
#include "models/tokenizers/hf_regex.h"
#include "tests/support/test_support.h"

using embedflow::test::read_jsonl;
using embedflow::test::source_path;
using embedflow::tokenizers::HfRegex;
using embedflow::tokenizers::JsonSite;
using embedflow::tokenizers::make_pre_tokenizer;
using embedflow::tokenizers::NormalizedText;
using embedflow::tokenizers::TokenizerConfigError;
using Json = nlohmann::json;

namespace {

struct Fixture {
  std::vector<std::string> texts;
  std::vector<Json> rows;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture r;
    std::vector<Json> lines =
        read_jsonl(source_path("tests/fixtures/tokenizers/pre_tokenizer_cases.jsonl"));
    REQUIRE(lines.size() > 1);
    r.texts = lines[0]["texts"].get<std::vector<std::string>>();
    r.rows.assign(lines.begin() + 1, lines.end());
    return r;
  }();
  return f;
}

// [piece, start, end] of what `pre` makes of `text`, as the fixture writes
// them.
Json run(const embedflow::tokenizers::PreTokenizer& pre, const std::string& text) {
  std::vector<NormalizedText> out;
  pre.split(NormalizedText::from_utf8(text), out);
  Json pieces = Json::array();
  for (const NormalizedText& p : out) {
    auto [b, e] = p.original_range(0, p.size());
    pieces.push_back({p.utf8(), b, e});
  }
  return pieces;
}

// Byte offset of each code point boundary of `text`.
std::vector<size_t> boundaries(const std::string& text) {
  std::vector<size_t> pos{0};
  for (size_t i = 0; i < text.size(); ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && i > 0) pos.push_back(i);
  if (!text.empty()) pos.push_back(text.size());
  return pos;
}

Json find_all(const HfRegex& re, const std::string& text) {
  NormalizedText t = NormalizedText::from_utf8(text);
  std::vector<std::pair<size_t, size_t>> matches;
  re.find_all(t.chars, matches);
  const std::vector<size_t> pos = boundaries(text);
  Json out = Json::array();
  for (auto [b, e] : matches) out.push_back({pos[b], pos[e]});
  return out;
}

std::string path_of_error(const Json& config) {
  try {
    make_pre_tokenizer(config, JsonSite{"tokenizer.json", "/pre_tokenizer"});
  } catch (const TokenizerConfigError& e) {
    return e.json_path();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("pre-tokenizers give the pieces and offsets of HF on every fixture text",
          "[pre_tokenizers]") {
  const Fixture& f = fixture();
  size_t configs = 0;
  for (const Json& row : f.rows) {
    if (!row.contains("pre_tokenizer")) continue;
    const std::string name = row["name"].get<std::string>();
    INFO(name << " " << row["pre_tokenizer"].dump());
    if (row.contains("error")) {
      CHECK_THROWS_AS(make_pre_tokenizer(row["pre_tokenizer"], JsonSite{"cases", "/pre_tokenizer"}),
                      TokenizerConfigError);
      continue;
    }
    ++configs;
    auto pre = make_pre_tokenizer(row["pre_tokenizer"], JsonSite{"cases", "/pre_tokenizer"});
    size_t failures = 0;
    for (size_t i = 0; i < f.texts.size() && failures < 3; ++i) {
      // HF leaves an empty text as one empty piece; we drop empty pieces
      // (components.h).
      Json expected = Json::array();
      for (const Json& p : row["pieces"][i])
        if (p[1] != p[2]) expected.push_back(p);
      const Json got = run(*pre, f.texts[i]);
      if (got == expected) continue;
      ++failures;
      INFO("text " << Json(f.texts[i]).dump());
      CHECK(got.dump() == expected.dump());
    }
  }
  CHECK(configs > 100);
}

TEST_CASE("HfRegex finds the matches HF finds with the real tokenizer patterns", "[hf_regex]") {
  const Fixture& f = fixture();
  size_t patterns = 0;
  for (const Json& row : f.rows) {
    if (!row.contains("regex")) continue;
    ++patterns;
    const std::string pattern = row["regex"].get<std::string>();
    INFO(row["name"].get<std::string>() << " " << pattern);
    HfRegex re(pattern, JsonSite{"cases", "/pattern"});
    size_t failures = 0;
    for (size_t i = 0; i < f.texts.size() && failures < 3; ++i) {
      const Json got = find_all(re, f.texts[i]);
      if (got == row["matches"][i]) continue;
      ++failures;
      INFO("text " << Json(f.texts[i]).dump());
      CHECK(got.dump() == row["matches"][i].dump());
    }
  }
  CHECK(patterns > 30);
}

TEST_CASE("HfRegex uses HF's character tables not PCRE2's", "[hf_regex]") {
  const JsonSite site{"t", "/p"};
  // U+180E is \s to PCRE2 10.42, not to HF.
  CHECK(find_all(HfRegex("\\s", site), "a\u180Eb c") == Json::parse("[[5,6]]"));
  CHECK(find_all(HfRegex("\\S+", site), "a\u180Eb c") == Json::parse("[[0,5],[6,7]]"));
  // CJK Ext H, Kawi and Nag Mundari letters and digits are \p{L} / \p{N} to HF.
  CHECK(find_all(HfRegex("\\p{L}+", site), "\U00031350\U00011F04 \U0001E4D0") ==
        Json::parse("[[0,8],[9,13]]"));
  CHECK(find_all(HfRegex("\\p{N}", site), "\U0001E4F0\U00011F50") == Json::parse("[[0,4],[4,8]]"));
  CHECK(find_all(HfRegex("[^\\s\\p{L}\\p{N}]+", site), "\U00031350\u180E!") ==
        Json::parse("[[4,8]]"));
}

TEST_CASE("the hand-written GPT-2 matcher agrees with PCRE2 on the same pattern", "[hf_regex]") {
  const std::string gpt2 =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
  const HfRegex hand(gpt2, JsonSite{"t", ""});
  const HfRegex pcre("(?:" + gpt2 + ")", JsonSite{"t", ""});  // not the literal pattern: PCRE2
  for (const std::string& text : fixture().texts) {
    INFO(Json(text).dump());
    CHECK(find_all(hand, text) == find_all(pcre, text));
  }
}

TEST_CASE("HfRegex refuses what it cannot match as Oniguruma does", "[hf_regex]") {
  const JsonSite site{"tokenizer.json", "/normalizer/pattern/Regex"};
  for (const char* bad : {"(", "[[:alpha:]]", "[a-z&&[^c]]", "\\X", "\\pL", "\\p{NoSuchProperty}",
                          "a++(?", "\\K", "\\Qa.b\\E"}) {
    INFO(bad);
    try {
      HfRegex re(bad, site);
      FAIL("accepted");
    } catch (const TokenizerConfigError& e) {
      CHECK(e.json_path() == "/normalizer/pattern/Regex");
    }
  }
}

TEST_CASE("pre-tokenizer errors name the JSON path", "[pre_tokenizers]") {
  CHECK(path_of_error(Json::parse(R"({"type": "NoSuchPreTokenizer"})")) == "/pre_tokenizer/type");
  CHECK(path_of_error(Json::parse(R"({"type": "UnicodeScripts"})")) == "/pre_tokenizer/type");
  CHECK(path_of_error(Json::parse(
            R"({"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated",
                "invert": false})")) == "/pre_tokenizer/pattern/Regex");
  CHECK(path_of_error(Json::parse(
            R"({"type": "Split", "pattern": {"Regex": "a"}, "behavior": "isolated",
                "invert": false})")) == "/pre_tokenizer/behavior");
  CHECK(path_of_error(Json::parse(
            R"({"type": "Split", "pattern": {"Glob": "a"}, "behavior": "Isolated",
                "invert": false})")) == "/pre_tokenizer/pattern");
  CHECK(path_of_error(Json::parse(R"({"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"}, {"type": "Bogus"}]})")) ==
        "/pre_tokenizer/pretokenizers/1/type");
  CHECK(path_of_error(Json::parse(R"({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "[[:alpha:]]"}, "behavior": "Removed",
             "invert": true}]})")) == "/pre_tokenizer/pretokenizers/0/pattern/Regex");
  CHECK(path_of_error(Json::parse(
            R"({"type": "Metaspace", "replacement": "ab", "prepend_scheme": "always"})")) ==
        "/pre_tokenizer/replacement");
  CHECK(path_of_error(Json::parse(
            R"({"type": "Metaspace", "replacement": "x", "prepend_scheme": "First"})")) ==
        "/pre_tokenizer/prepend_scheme");
  CHECK(path_of_error(Json::parse(R"({"type": "Metaspace", "replacement": "x",
            "add_prefix_space": false})")) == "/pre_tokenizer/add_prefix_space");
  CHECK(path_of_error(Json::parse(R"({"type": "CharDelimiterSplit", "delimiter": ""})")) ==
        "/pre_tokenizer/delimiter");
  // An option we do not know may change the ids: refused, not ignored.
  CHECK(path_of_error(Json::parse(R"({"type": "Digits", "individual_digits": true,
            "group": 3})"))
            .rfind("/pre_tokenizer", 0) == 0);
  // Fields HF requires.
  CHECK(path_of_error(Json::parse(R"({"type": "ByteLevel", "trim_offsets": true})")) !=
        "(no error)");
  CHECK(path_of_error(Json::parse(R"({"type": "Split", "pattern": {"Regex": "a"},
            "behavior": "Isolated"})")) != "(no error)");
}

TEST_CASE("pre-tokenizers are const-thread-safe", "[pre_tokenizers]") {
  const Fixture& f = fixture();
  auto pre = make_pre_tokenizer(Json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true}]})"),
                                JsonSite{"t", ""});
  std::vector<Json> expected;
  for (const std::string& text : f.texts) expected.push_back(run(*pre, text));
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (size_t k = 0; k < ok.size(); ++k)
    threads.emplace_back([&, k] {
      int good = 1;
      for (int round = 0; round < 20; ++round)
        for (size_t i = 0; i < f.texts.size(); ++i)
          if (run(*pre, f.texts[i]) != expected[i]) good = 0;
      ok[k] = good;
    });
  for (std::thread& t : threads) t.join();
  CHECK(ok == std::vector<int>(4, 1));
}
