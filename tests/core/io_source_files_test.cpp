#include <algorithm>
#include <filesystem>

#include "stages/io/source_files.h"
#include "tests/core/io_test_helpers.h"

using namespace embedflow;
using namespace embedflow::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// data/
//   a.wav  b.flac  notes.txt  .hidden.wav
//   sub/b.WAV  sub/c.wav  sub/deep/d.wav  sub/deep/e.mp3
//   sub/.e.wav  .cache/f.wav
void make_tree(const TempDir& dir) {
  for (const char* f : {"data/a.wav", "data/b.flac", "data/notes.txt", "data/.hidden.wav",
                        "data/sub/b.WAV", "data/sub/c.wav", "data/sub/deep/d.wav",
                        "data/sub/deep/e.mp3", "data/sub/.e.wav", "data/.cache/f.wav"})
    write_file(dir.file(f), "x");
}

std::vector<std::string> python_glob(const TempDir& dir, const std::string& pattern) {
  // Python's glob.glob(recursive=True) skips hidden names too: an independent oracle.
  std::string out = python(
      "import glob, os\n"
      "os.chdir(" +
          Json(dir.path()).dump() +
          ")\n"
          "for p in sorted(glob.glob(" +
          Json(pattern).dump() +
          ", recursive=True)):\n"
          "    if os.path.isfile(p): print(p)\n",
      dir);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    lines.push_back(out.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace

TEST_CASE("source.files glob matches like Python's glob, ids relative to the fixed prefix",
          "[io][source.files]") {
  TempDir dir("files");
  make_tree(dir);
  // Relative patterns resolve against the working directory, as on the command line.
  struct Chdir {
    fs::path old = fs::current_path();
    explicit Chdir(const std::string& to) { fs::current_path(to); }
    ~Chdir() { fs::current_path(old); }
  } chdir(dir.path());
  for (std::string pattern : {"data/**/*.wav", "data/*.wav", "data/sub/*", "data/**/d.*",
                              "data/s?b/[cd].wav", "data/**", "data/sub/deep/d.wav", "data/.*.wav",
                              "data/**/.*", "data/.*/*.wav", "data/*/*.wav", "**/deep/*"}) {
    INFO(pattern);
    auto src = make_stage<SourceFiles>(source_files_schema(), {{"glob", pattern}});
    std::vector<Item> items = drain(*src);
    std::vector<std::string> sources;
    for (const auto& it : items) {
      sources.push_back(it.source);
      CHECK(it.kind == Kind::File);
    }
    CHECK(sources == python_glob(dir, pattern));
    REQUIRE(src->size_hint());
    CHECK(*src->size_hint() == items.size());
  }
  auto src = make_stage<SourceFiles>(source_files_schema(), {{"glob", "data/**/*.wav"}});
  std::vector<Item> items = drain(*src);
  CHECK(ids_of(items) == std::vector<std::string>{"a.wav", "sub/c.wav", "sub/deep/d.wav"});
  CHECK(items[1].source == "data/sub/c.wav");
}

TEST_CASE("source.files glob: absolute pattern, hidden files on request, no match is an error",
          "[io][source.files]") {
  TempDir dir("files");
  make_tree(dir);
  auto src = make_stage<SourceFiles>(
      source_files_schema(), {{"glob", dir.path() + "/data/**/*.wav"}, {"skip_hidden", false}});
  std::vector<Item> items = drain(*src);
  CHECK(ids_of(items) == std::vector<std::string>{".cache/f.wav", ".hidden.wav", "a.wav",
                                                  "sub/.e.wav", "sub/c.wav", "sub/deep/d.wav"});
  CHECK(items[2].source == dir.path() + "/data/a.wav");

  auto none =
      make_stage<SourceFiles>(source_files_schema(), {{"glob", dir.path() + "/data/**/*.ogg"}});
  try {
    none->open(context());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK_THAT(all_messages(e), Contains("no files match glob") && Contains("*.ogg"));
  }
  auto missing =
      make_stage<SourceFiles>(source_files_schema(), {{"glob", dir.path() + "/nope/*.wav"}});
  try {
    missing->open(context());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK_THAT(all_messages(e), Contains("nope") && Contains("does not exist"));
  }
}

TEST_CASE("source.files dir: recursive, extensions (any case), limit, sorted order",
          "[io][source.files]") {
  TempDir dir("files");
  make_tree(dir);
  std::string root = dir.file("data");
  auto all = make_stage<SourceFiles>(source_files_schema(), {{"dir", root}});
  CHECK(ids_of(drain(*all)) == std::vector<std::string>{"a.wav", "b.flac", "notes.txt", "sub/b.WAV",
                                                        "sub/c.wav", "sub/deep/d.wav",
                                                        "sub/deep/e.mp3"});
  auto audio = make_stage<SourceFiles>(source_files_schema(),
                                       {{"dir", root + "/"}, {"extensions", {".WAV", "flac"}}});
  std::vector<Item> items = drain(*audio);
  CHECK(ids_of(items) ==
        std::vector<std::string>{"a.wav", "b.flac", "sub/b.WAV", "sub/c.wav", "sub/deep/d.wav"});
  CHECK(items[2].source == root + "/sub/b.WAV");
  CHECK(*audio->size_hint() == 5);

  auto flat = make_stage<SourceFiles>(
      source_files_schema(), {{"dir", root}, {"recursive", false}, {"extensions", {".wav"}}});
  CHECK(ids_of(drain(*flat)) == std::vector<std::string>{"a.wav"});

  auto limited = make_stage<SourceFiles>(source_files_schema(), {{"dir", root}, {"limit", 2}});
  CHECK(ids_of(drain(*limited)) == std::vector<std::string>{"a.wav", "b.flac"});
  CHECK(*limited->size_hint() == 2);
}

TEST_CASE("source.files dir errors name the folder", "[io][source.files]") {
  TempDir dir("files");
  make_tree(dir);
  auto missing = make_stage<SourceFiles>(source_files_schema(), {{"dir", dir.file("absent")}});
  try {
    missing->open(context());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK_THAT(all_messages(e), Contains("absent") && Contains("does not exist"));
  }
  auto file = make_stage<SourceFiles>(source_files_schema(), {{"dir", dir.file("data/a.wav")}});
  CHECK_THROWS_WITH(file->open(context()), Contains("is not a folder"));
  auto ext = make_stage<SourceFiles>(source_files_schema(),
                                     {{"dir", dir.file("data")}, {"extensions", {".ogg"}}});
  CHECK_THROWS_WITH(ext->open(context()), Contains("none of the 7 files") && Contains(".ogg"));

  CHECK_THROWS_WITH(make_stage<SourceFiles>(source_files_schema(), Json::object()),
                    Contains("give one of glob, dir, list or manifest"));
  CHECK_THROWS_WITH(make_stage<SourceFiles>(source_files_schema(), {{"dir", "a"}, {"glob", "b/*"}}),
                    Contains("only one of"));
  CHECK_THROWS_WITH(
      make_stage<SourceFiles>(source_files_schema(), {{"glob", "b/*"}, {"extensions", {".wav"}}}),
      Contains("extensions applies to dir"));
}

TEST_CASE("source.files list: comments, blank lines, paths relative to the list's folder",
          "[io][source.files]") {
  TempDir dir("files");
  std::string list = dir.file("lists/files.txt");
  write_file(list,
             "# training set\n"
             "a.wav\n"
             "\n"
             "  sub/b.wav  \r\n"
             "../other/c.wav\n" +
                 dir.path() +
                 "/lists/deep/d.wav\n"
                 "/elsewhere/e.wav\n"
                 "./sub/../f.wav");  // no final newline
  auto src = make_stage<SourceFiles>(source_files_schema(), {{"list", list}});
  std::vector<Item> items = drain(*src);
  CHECK(ids_of(items) == std::vector<std::string>{"a.wav", "sub/b.wav", "../other/c.wav",
                                                  "deep/d.wav", "/elsewhere/e.wav", "f.wav"});
  std::vector<std::string> sources;
  for (const auto& it : items) sources.push_back(it.source);
  std::string base = dir.path() + "/lists/";
  CHECK(sources == std::vector<std::string>{base + "a.wav", base + "sub/b.wav",
                                            dir.path() + "/other/c.wav", base + "deep/d.wav",
                                            "/elsewhere/e.wav", base + "f.wav"});
  CHECK(*src->size_hint() == 6);
}

TEST_CASE("source.files list: a repeated path is a duplicate id naming both lines",
          "[io][source.files]") {
  TempDir dir("files");
  write_file(dir.file("l.txt"), "a.wav\nb.wav\n# c\n./a.wav\n");
  auto src = make_stage<SourceFiles>(source_files_schema(), {{"list", dir.file("l.txt")}});
  try {
    src->open(context());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK_THAT(all_messages(e), Contains("l.txt:4: duplicate id 'a.wav' (first on line 1)"));
  }
}

TEST_CASE("source.files manifest CSV: ids, paths, other columns in meta, file order",
          "[io][source.files]") {
  TempDir dir("files");
  write_file(dir.file("m/manifest.csv"),
             "\xEF\xBB\xBFpath,id,label,note\r\n"
             "clips/z.wav,z1,dog,plain\r\n"
             "/abs/a.wav,a1,cat,\"has, comma and \"\"quotes\"\"\"\r\n"
             "\r\n"
             "clips/m.wav,,bird,\"two\nlines\"\r\n");
  auto src =
      make_stage<SourceFiles>(source_files_schema(), {{"manifest", dir.file("m/manifest.csv")}});
  // An empty id is an error, not a silent fallback.
  CHECK_THROWS_WITH(src->open(context()), Contains("manifest.csv:5") && Contains("'id' must be"));

  write_file(dir.file("m/manifest.csv"),
             "path,id,label,note\n"
             "clips/z.wav,z1,dog,plain\n"
             "/abs/a.wav,a1,cat,\"has, comma and \"\"quotes\"\"\"\n"
             "clips/m.wav,m1,bird,\"two\nlines\"\n");
  src = make_stage<SourceFiles>(source_files_schema(), {{"manifest", dir.file("m/manifest.csv")}});
  std::vector<Item> items = drain(*src);
  REQUIRE(items.size() == 3);
  CHECK(ids_of(items) == std::vector<std::string>{"z1", "a1", "m1"});
  CHECK(items[0].source == dir.path() + "/m/clips/z.wav");
  CHECK(items[1].source == "/abs/a.wav");
  CHECK(items[0].meta == Json{{"label", "dog"}, {"note", "plain"}});
  CHECK(items[1].meta["note"] == "has, comma and \"quotes\"");
  CHECK(items[2].meta["note"] == "two\nlines");
  CHECK(*src->size_hint() == 3);
}

TEST_CASE("source.files manifest JSONL: custom fields, ids default to the path",
          "[io][source.files]") {
  TempDir dir("files");
  write_file(dir.file("m.jsonl"),
             "{\"file\": \"x/1.wav\", \"key\": 7, \"score\": 0.5, \"tags\": [\"a\"]}\n"
             "\n"
             "{\"file\": \"x/2.wav\"}\n");
  auto src = make_stage<SourceFiles>(
      source_files_schema(),
      {{"manifest", dir.file("m.jsonl")}, {"path_field", "file"}, {"id_field", "key"}});
  std::vector<Item> items = drain(*src);
  REQUIRE(items.size() == 2);
  CHECK(items[0].id == "7");
  CHECK(items[0].meta == Json{{"score", 0.5}, {"tags", {"a"}}});
  CHECK(items[1].id == "x/2.wav");
  CHECK(items[1].source == dir.path() + "/x/2.wav");
}

TEST_CASE("source.files manifest: every bad line is reported at open, with its line number",
          "[io][source.files]") {
  TempDir dir("files");
  write_file(dir.file("bad.jsonl"),
             "{\"path\": \"a.wav\", \"id\": \"a\"}\n"
             "{\"path\": \"b.wav\", \"id\": \"b\"}\n"
             "{\"path\": \"c.wav\" \"id\": \"c\"}\n"   // missing comma
             "[\"d.wav\"]\n"                           // not an object
             "{\"id\": \"e\"}\n"                       // no path
             "{\"path\": \"f.wav\", \"id\": \"a\"}\n"  // duplicate id
             "{\"path\": \"g.wav\", \"id\": 1.5}\n");  // id of the wrong type
  auto src = make_stage<SourceFiles>(source_files_schema(), {{"manifest", dir.file("bad.jsonl")}});
  try {
    src->open(context());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    std::string msg = all_messages(e);
    INFO(msg);
    CHECK(e.diagnostics().size() == 5);
    CHECK_THAT(msg, Contains("bad.jsonl:3: not valid JSON"));
    CHECK_THAT(msg, Contains("bad.jsonl:4: expected a JSON object"));
    CHECK_THAT(msg, Contains("bad.jsonl:5: no 'path' field"));
    CHECK_THAT(msg, Contains("bad.jsonl:6: duplicate id 'a' (first on line 1)"));
    CHECK_THAT(msg, Contains("bad.jsonl:7: 'id' must be"));
  }

  write_file(dir.file("cols.csv"), "file,id\na.wav,1\n");
  auto cols = make_stage<SourceFiles>(source_files_schema(), {{"manifest", dir.file("cols.csv")}});
  CHECK_THROWS_WITH(cols->open(context()),
                    Contains("no 'path' column (columns: file, id)") && Contains("path_field"));
  write_file(dir.file("ragged.csv"), "path,id\na.wav,1\nb.wav,2,extra\n");
  auto ragged =
      make_stage<SourceFiles>(source_files_schema(), {{"manifest", dir.file("ragged.csv")}});
  CHECK_THROWS_WITH(ragged->open(context()),
                    Contains("ragged.csv:3: 3 fields, but the header has 2 columns"));
  auto unknown = make_stage<SourceFiles>(source_files_schema(), {{"manifest", dir.file("m.txt")}});
  CHECK_THROWS_WITH(unknown->open(context()), Contains("m.txt"));
}
