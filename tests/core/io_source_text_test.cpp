#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "stages/io/source_text.h"
#include "tests/core/io_test_helpers.h"

using namespace embedflow;
using namespace embedflow::test;
using Catch::Matchers::Contains;

TEST_CASE("source.text inline items get ids 0, 1, … and source 'inline'", "[io][source.text]") {
  auto src = make_stage<SourceText>(source_text_schema(), {{"items", {"a cat", "", "ünï"}}});
  std::vector<Item> items = drain(*src);
  REQUIRE(items.size() == 3);
  CHECK(ids_of(items) == std::vector<std::string>{"0", "1", "2"});
  CHECK(items[0].text == "a cat");
  CHECK(items[1].text.empty());
  CHECK(items[2].text == "ünï");
  for (const auto& it : items) {
    CHECK(it.kind == Kind::Text);
    CHECK(it.source == "inline");
    CHECK_FALSE(it.failed());
  }
  CHECK(*src->size_hint() == 3);
}

TEST_CASE("source.text file: one item per line, CRLF and BOM dropped, empty lines kept or skipped",
          "[io][source.text]") {
  TempDir dir("text");
  std::string path = dir.file("lines.txt");
  write_file(path,
             "\xEF\xBB\xBF"
             "first\r\n\nthird line\n   \nlast without newline");
  auto keep = make_stage<SourceText>(source_text_schema(), {{"file", path}});
  std::vector<Item> items = drain(*keep);
  REQUIRE(items.size() == 5);
  CHECK(items[0].text == "first");
  CHECK(items[1].text.empty());
  CHECK(items[4].text == "last without newline");
  CHECK(ids_of(items) == std::vector<std::string>{"0", "1", "2", "3", "4"});
  CHECK(items[2].source == path + ":3");
  CHECK(*keep->size_hint() == 5);

  auto limited = make_stage<SourceText>(source_text_schema(),
                                        {{"file", path}, {"skip_empty", true}, {"limit", 2}});
  items = drain(*limited);
  CHECK(ids_of(items) == std::vector<std::string>{"0", "2"});
  CHECK(*limited->size_hint() == 2);

  auto skip = make_stage<SourceText>(source_text_schema(), {{"file", path}, {"skip_empty", true}});
  items = drain(*skip);
  REQUIRE(items.size() == 3);
  // Ids stay the line index, so they still point at the line.
  CHECK(ids_of(items) == std::vector<std::string>{"0", "2", "4"});
  CHECK(items[1].text == "third line");
  CHECK(items[2].source == path + ":5");
  CHECK(*skip->size_hint() == 3);
}

TEST_CASE("source.text file: an invalid UTF-8 line is a failed item, the rest go on",
          "[io][source.text]") {
  TempDir dir("text");
  std::string path = dir.file("mixed.txt");
  write_file(path, "good\ncaf\xE9 latin-1\n\xED\xA0\x80 surrogate\nalso good\n");
  auto src = make_stage<SourceText>(source_text_schema(), {{"file", path}}, "texts");
  std::vector<Item> items = drain(*src, "texts");
  REQUIRE(items.size() == 4);
  CHECK_FALSE(items[0].failed());
  REQUIRE(items[1].failed());
  CHECK(items[1].error->stage == "texts");
  CHECK_THAT(items[1].error->message,
             Contains("mixed.txt:2") && Contains("not valid UTF-8 (byte 3)"));
  CHECK(items[1].id == "1");
  REQUIRE(items[2].failed());  // UTF-8-encoded surrogates are not valid UTF-8 either
  CHECK_THAT(items[2].error->message, Contains("byte 0"));
  CHECK_FALSE(items[3].failed());
  CHECK(items[3].text == "also good");
}

TEST_CASE("source.text file streams a long file", "[io][source.text]") {
  TempDir dir("text");
  std::string path = dir.file("big.txt");
  std::string content;
  for (int i = 0; i < 100000; ++i) content += "sentence number " + std::to_string(i) + "\n";
  write_file(path, content);
  auto src = make_stage<SourceText>(source_text_schema(), {{"file", path}});
  src->open(context());
  CHECK(*src->size_hint() == 100000);
  uint64_t n = 0;
  Item item, last;
  while (src->next(item)) {
    ++n;
    last = std::move(item);
    item = Item{};
  }
  CHECK(n == 100000);
  CHECK(last.text == "sentence number 99999");
  CHECK(last.id == "99999");
}

TEST_CASE("source.text manifest JSONL: field, id_field, line-number ids, meta",
          "[io][source.text]") {
  TempDir dir("text");
  std::string path = dir.file("corpus.jsonl");
  write_file(path,
             "{\"id\": \"q1\", \"text\": \"what is a cat\", \"lang\": \"en\"}\n"
             "{\"text\": \"no id here\"}\n"
             "\n"
             "{\"id\": 42, \"text\": \"ein Hund\", \"lang\": \"de\"}\n"
             "{\"id\": \"bad\", \"text\": \"caf\xE9\"}\n");
  auto src = make_stage<SourceText>(source_text_schema(), {{"manifest", path}});
  std::vector<Item> items = drain(*src);
  REQUIRE(items.size() == 4);
  CHECK(ids_of(items) == std::vector<std::string>{"q1", "2", "42", "5"});
  CHECK(items[0].text == "what is a cat");
  CHECK(items[0].meta == Json{{"lang", "en"}});
  CHECK(items[2].source == path + ":4");
  REQUIRE(items[3].failed());
  CHECK_THAT(items[3].error->message, Contains("corpus.jsonl:5") && Contains("UTF-8"));
  CHECK(*src->size_hint() == 4);

  auto other = make_stage<SourceText>(
      source_text_schema(), {{"manifest", path}, {"field", "lang"}, {"id_field", "none"}});
  try {
    other->open(context());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK_THAT(all_messages(e), Contains("corpus.jsonl:2: no 'lang' field"));
  }
}

TEST_CASE("source.text manifest CSV: quoted multi-line text, problems reported at open",
          "[io][source.text]") {
  TempDir dir("text");
  std::string path = dir.file("docs.csv");
  write_file(path, "id,text\nd1,\"line one\nline two, with comma\"\nd2,plain\n");
  auto src = make_stage<SourceText>(source_text_schema(), {{"manifest", path}});
  std::vector<Item> items = drain(*src);
  REQUIRE(items.size() == 2);
  CHECK(items[0].text == "line one\nline two, with comma");
  CHECK(items[1].id == "d2");
  CHECK(items[1].source == path + ":4");

  write_file(path, "id,text\nd1,x\nd2,\"bad\"quote\nd1,y\nd3,\"never closed\n");
  auto bad = make_stage<SourceText>(source_text_schema(), {{"manifest", path}});
  try {
    bad->open(context());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    std::string msg = all_messages(e);
    INFO(msg);
    CHECK_THAT(msg, Contains("docs.csv:3: unexpected 'q' after a closing quote"));
    CHECK_THAT(msg, Contains("docs.csv:5: a quoted field is not closed"));
    CHECK_THAT(msg, Contains("docs.csv:4: duplicate id 'd1' (first on line 2)"));
  }
  write_file(path, "id,body\nd1,x\n");
  auto nocol = make_stage<SourceText>(source_text_schema(), {{"manifest", path}});
  CHECK_THROWS_WITH(nocol->open(context()), Contains("no 'text' column (columns: id, body)"));
}

TEST_CASE("source.text errors: no mode, two modes, missing file", "[io][source.text]") {
  CHECK_THROWS_WITH(make_stage<SourceText>(source_text_schema(), Json::object()),
                    Contains("give one of items, file or manifest"));
  CHECK_THROWS_WITH(
      make_stage<SourceText>(source_text_schema(), {{"items", {"a"}}, {"file", "x.txt"}}),
      Contains("only one of"));
  CHECK_THROWS_WITH(make_stage<SourceText>(source_text_schema(), {{"items", Json::array()}}),
                    Contains("items is empty"));
  auto missing = make_stage<SourceText>(source_text_schema(), {{"file", "/nonexistent/x.txt"}});
  CHECK_THROWS_WITH(missing->open(context()),
                    Contains("/nonexistent/x.txt") && Contains("No such file"));
}

TEST_CASE("source.text file: a FIFO (a pipe, /dev/stdin) is read once and streams every line",
          "[io][source.text]") {
  // It used to be read twice (once to count, once to stream): the second pass found the pipe
  // empty and the run exited 0 with no items.
  TempDir dir("textfifo");
  const std::string fifo = dir.file("lines.fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::thread writer([&] {
    std::ofstream out(fifo);
    for (int i = 0; i < 1000; ++i) out << "sentence " << i << "\n";
  });
  auto src = make_stage<SourceText>(source_text_schema(), {{"file", fifo}, {"limit", 999}});
  std::vector<Item> items = drain(*src);
  writer.join();
  CHECK_FALSE(src->size_hint().has_value());  // a pipe has no size to count
  REQUIRE(items.size() == 999);               // `limit` holds without a count
  CHECK(items[0].text == "sentence 0");
  CHECK(items[998].text == "sentence 998");
  CHECK(items[998].id == "998");
}
