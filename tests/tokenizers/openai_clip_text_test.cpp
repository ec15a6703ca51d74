// OpenAI's CLIP text cleaning, and the tokenizer engine on CLIP's vocab.json + merges.txt (the
// folder conversion of folder_loaders.cpp), against ids from the independent Python
// implementation of clip.tokenize (tests/fixtures/clip/clip_tokenizer_ref.py) with the real
// openai/clip-vit-base-patch32 files: cleaning + engine = OpenAI's ids.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/tokenizers/openai_clip_text.h"
#include "models/tokenizers/tokenizer.h"
#include "tests/support/test_support.h"

using embedflow::test::source_path;
using embedflow::tokenizers::Tokenizer;

namespace {

std::shared_ptr<const Tokenizer> real_tokenizer() {
  static auto tok = Tokenizer::from_folder(source_path("data/vocab/clip"));
  return tok;
}

// clip.tokenize(text, truncate=True): OpenAI's cleaning, then the tokenizer, 77 ids at most.
std::vector<int64_t> openai_ids(const Tokenizer& tok, const std::string& text) {
  auto ids = tok.encode_ids(embedflow::tokenizers::clip_clean_text(text), 77);
  return std::vector<int64_t>(ids.begin(), ids.end());
}

nlohmann::json load_cases() {
  std::ifstream f(source_path("tests/fixtures/clip/tokenizer_cases.json"));
  REQUIRE(f.good());
  return nlohmann::json::parse(f)["cases"];
}

std::string ids_str(const std::vector<int64_t>& ids) {
  std::ostringstream s;
  for (size_t i = 0; i < ids.size(); ++i) s << (i ? " " : "") << ids[i];
  return s.str();
}

}  // namespace

TEST_CASE("openai cleaning and the engine match clip.tokenize on every fixture string",
          "[clip][tokenizer]") {
  auto tok = real_tokenizer();
  const auto cases = load_cases();
  REQUIRE(cases.size() >= 300);
  size_t clean_mismatches = 0, id_mismatches = 0;
  for (const auto& c : cases) {
    const std::string text = c["text"];
    const std::string want_clean = c["clean"];
    const std::vector<int64_t> want = c["ids"].get<std::vector<int64_t>>();
    const std::string got_clean = embedflow::tokenizers::clip_clean_text(text);
    const std::vector<int64_t> got = openai_ids(*tok, text);
    if (got_clean != want_clean) {
      ++clean_mismatches;
      UNSCOPED_INFO("clean(" << nlohmann::json(text).dump()
                             << ") = " << nlohmann::json(got_clean).dump() << ", want "
                             << nlohmann::json(want_clean).dump());
    }
    if (got != want) {
      ++id_mismatches;
      UNSCOPED_INFO("ids(" << nlohmann::json(text).dump() << ") = [" << ids_str(got) << "], want ["
                           << ids_str(want) << "]");
    }
  }
  CHECK(clean_mismatches == 0);
  CHECK(id_mismatches == 0);
}

TEST_CASE("clip folder without tokenizer.json: special ids and truncation and the empty caption",
          "[clip][tokenizer]") {
  auto tok = real_tokenizer();
  CHECK(tok->token_to_id("<|startoftext|>") == 49406);
  CHECK(tok->token_to_id("<|endoftext|>") == 49407);
  CHECK(tok->vocab_size() == 49408);
  // Empty and whitespace-only captions are BOS EOS.
  CHECK(openai_ids(*tok, "") == std::vector<int64_t>{49406, 49407});
  CHECK(openai_ids(*tok, " \t\n") == std::vector<int64_t>{49406, 49407});
  CHECK(tok->encode_ids(" \t\n") == std::vector<int32_t>{49406, 49407});
  // A caption of 200 words: 77 ids, EOS kept last, body is the first 75 word ids.
  std::string long_caption;
  for (int i = 0; i < 200; ++i) long_caption += "cat ";
  auto ids = openai_ids(*tok, long_caption);
  REQUIRE(ids.size() == 77);
  CHECK(ids.front() == 49406);
  CHECK(ids.back() == 49407);
  CHECK(ids[1] == 2368);  // "cat</w>"
  CHECK(ids[75] == 2368);
  // Published ids of a known caption (openai/clip-vit-base-patch32 tokenizer).
  CHECK(tok->encode_ids("a photo of a cat") ==
        std::vector<int32_t>{49406, 320, 1125, 539, 320, 2368, 49407});
}

TEST_CASE("clip tokenizer rejects invalid UTF-8 and broken vocabulary files", "[clip][tokenizer]") {
  auto tok = real_tokenizer();
  CHECK_THROWS_WITH(tok->encode(std::string("caf\xC3", 4)), Catch::Contains("invalid UTF-8"));
  // Byte-level HTML repairs must not turn invalid input valid: "\xC3&#2;\xA9" would become "é".
  CHECK_THROWS_WITH(openai_ids(*tok, std::string(" \xC3&#2;\xA9", 7)),
                    Catch::Contains("invalid UTF-8"));
  embedflow::test::TempDir dir("clip_tok");
  embedflow::test::write_file(dir.file("vocab.json"), "{\"a\": 1}");
  embedflow::test::write_file(dir.file("merges.txt"), "#version: 0.2\na b\n");
  embedflow::test::write_file(dir.file("tokenizer_config.json"),
                              "{\"tokenizer_class\": \"CLIPTokenizer\"}");
  CHECK_THROWS_WITH(Tokenizer::from_folder(dir.path()),
                    Catch::Contains("vocab.json") && Catch::Contains("not in the vocabulary"));
  embedflow::test::write_file(dir.file("merges.txt"), "#version: 0.2\na b c\n");
  CHECK_THROWS_WITH(Tokenizer::from_folder(dir.path()),
                    Catch::Contains("merges.txt") && Catch::Contains("line 2"));
}

TEST_CASE("clip text cleaning: html entities and the ftfy subset", "[clip][tokenizer]") {
  using embedflow::tokenizers::clip_clean_text;
  using embedflow::tokenizers::html_unescape;
  CHECK(html_unescape("fish &amp; chips") == "fish & chips");
  CHECK(html_unescape("&notit;") == "\xC2\xACit;");  // longest legacy prefix "not"
  CHECK(html_unescape("&#x1F600;") == "\xF0\x9F\x98\x80");
  CHECK(html_unescape("&#150;") == "\xE2\x80\x93");  // Windows-1252 en dash
  CHECK(html_unescape("&#99999999999999999999;") == "\xEF\xBF\xBD");
  CHECK(clip_clean_text("  Caf\xC3\x83\xC2\xA9  ") == "caf\xC3\xA9");       // "CafÃ©" → "café"
  CHECK(clip_clean_text("it\xC3\xA2\xE2\x82\xAC\xE2\x84\xA2s") == "it's");  // "itâ€™s"
  CHECK(clip_clean_text("\xEF\xAC\x81nance") == "finance");                 // ligature
  CHECK(clip_clean_text("&rsquo;s") == "'s");
  CHECK(clip_clean_text("\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3") == "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82");
}
