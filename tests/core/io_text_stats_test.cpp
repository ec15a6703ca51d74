#include "stages/text/text_stats.h"
#include "tests/core/io_test_helpers.h"

using namespace embedflow;
using namespace embedflow::test;
using Catch::Matchers::Contains;

TEST_CASE("text.stats matches Python's len, encode, split and splitlines", "[io][text.stats]") {
  std::vector<std::string> texts = {
      "",
      "one",
      "  leading and trailing  ",
      "héllo wörld\r\nsecond line\n\nfourth\n",
      "a\rb\r\n\r\nc\x0b"
      "d\x0c"
      "e\x1c"
      "f",
      "nbsp\xC2\xA0"
      "sep ideographic\xE3\x80\x80space em\xE2\x80\x83space",
      "no\xE2\x80\x8B"
      "break zero-width space is not whitespace",
      "line\xE2\x80\xA8sep para\xE2\x80\xA9sep nel\xC2\x85next",
      "emoji \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD ok \xE4\xBD\xA0\xE5\xA5\xBD",
      "\t\n \n",
  };
  TempDir dir("stats");
  write_file(dir.file("texts.json"), Json(texts).dump());
  std::string out = python(
      "import json\n"
      "texts = json.load(open(" +
          Json(dir.file("texts.json")).dump() +
          ", encoding='utf-8'))\n"
          "rows = []\n"
          "for t in texts:\n"
          "    w = t.split()\n"
          "    rows.append({'chars': len(t), 'bytes': len(t.encode('utf-8')), 'words': len(w),\n"
          "                 'lines': len(t.splitlines()),\n"
          "                 'avg_word_length': sum(map(len, w)) / len(w) if w else 0.0})\n"
          "print(json.dumps(rows))\n",
      dir);
  Json expected = Json::parse(out);
  REQUIRE(expected.size() == texts.size());

  auto stage = make_stage<TextStats>(text_stats_schema(), Json::object());
  stage->open(context());
  for (size_t i = 0; i < texts.size(); ++i) {
    INFO("text " << i << ": " << Json(texts[i]).dump());
    Item in;
    in.id = std::to_string(i);
    in.kind = Kind::Text;
    in.text = texts[i];
    Item result = in.derive();
    stage->process(in, result);
    CHECK(result.kind == Kind::Record);
    for (const char* key : {"chars", "bytes", "words", "lines"})
      CHECK(result.record[key] == expected[i][key]);
    CHECK(result.record["avg_word_length"].get<double>() ==
          Approx(expected[i]["avg_word_length"].get<double>()));
  }
}

TEST_CASE("text.stats fails an item whose text is not UTF-8", "[io][text.stats]") {
  auto stage = make_stage<TextStats>(text_stats_schema(), Json::object());
  Item in;
  in.id = "latin1";
  in.kind = Kind::Text;
  in.text = "caf\xE9";
  Item out = in.derive();
  CHECK_THROWS_WITH(stage->process(in, out), Contains("'latin1'") && Contains("byte 3"));
}
