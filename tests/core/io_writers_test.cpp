#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <sstream>

#include "embedflow/atomic_file.h"
#include "embedflow/errors.h"

#include "stages/io/write_csv.h"
#include "stages/io/write_jsonl.h"
#include "stages/io/write_npy.h"
#include "tests/core/io_test_helpers.h"

using namespace embedflow;
using namespace embedflow::test;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

Item embedding(const std::string& id, std::vector<float> values, Json meta = Json::object()) {
  Item it;
  it.id = id;
  it.source = "/data/" + id + ".wav";
  it.kind = Kind::Embedding;
  int64_t n = static_cast<int64_t>(values.size());
  it.tensor = Tensor::from_vector(values, {n});
  it.meta = std::move(meta);
  return it;
}

}  // namespace

TEST_CASE("write.npy stacks rows that numpy reads back, with a sidecar per row",
          "[io][write.npy]") {
  TempDir dir("npy");
  std::string path = dir.file("out/emb.npy");
  auto sink = make_stage<WriteNpy>(write_npy_schema(), {{"path", path}});
  sink->open(context());
  sink->write(embedding("a", {1.5f, -2.0f, 0.1f}, {{"label", "dog"}}));
  sink->write(embedding("b/c", {0.0f, 3.25f, 1e-8f}));
  CHECK_FALSE(fs::exists(path));  // nothing appears before the end of the run
  sink->finish(true);
  CHECK(fs::exists(path));
  CHECK(sink->outputs() == std::vector<std::string>{path, dir.file("out/emb.jsonl")});

  std::string out = python(
      "import numpy as np\n"
      "a = np.load(" +
          Json(path).dump() +
          ")\n"
          "print(a.dtype, a.shape)\n"
          "print(repr(a.tolist()))\n"
          "ref = np.array([[1.5, -2.0, 0.1], [0.0, 3.25, 1e-8]], dtype=np.float32)\n"
          "print(np.array_equal(a, ref))\n",
      dir);
  CHECK(out ==
        "float32 (2, 3)\n"
        "[[1.5, -2.0, 0.10000000149011612], [0.0, 3.25, 9.99999993922529e-09]]\n"
        "True\n");

  std::vector<Json> side = read_jsonl(dir.file("out/emb.jsonl"));
  REQUIRE(side.size() == 2);
  CHECK(side[0] == Json::parse(R"({"row":0,"id":"a","source":"/data/a.wav","shape":[3],
                                   "meta":{"label":"dog"}})"));
  CHECK(side[1]["row"] == 1);
  CHECK(side[1]["id"] == "b/c");
}

TEST_CASE("write.npy rejects a row of another shape with a message pointing at per_item",
          "[io][write.npy]") {
  TempDir dir("npy");
  std::string path = dir.file("emb.npy");
  auto sink = make_stage<WriteNpy>(write_npy_schema(), {{"path", path}});
  sink->open(context());
  sink->write(embedding("a", {1, 2, 3}));
  try {
    sink->write(embedding("long", {1, 2, 3, 4}));
    FAIL("expected an ItemFailure");
  } catch (const ItemFailure& e) {
    std::string msg = e.what();
    CHECK_THAT(msg, Contains("'long'") && Contains("[4]") && Contains("[3]") &&
                        Contains("per_item: true"));
  }
  Item text;
  text.id = "t";
  text.kind = Kind::Text;
  CHECK_THROWS_AS(sink->write(text), ItemFailure);
  sink->write(embedding("c", {7, 8, 9}));  // the run goes on
  sink->finish(true);
  CHECK(python("import numpy as np; print(np.load(" + Json(path).dump() + ").tolist())", dir) ==
        "[[1.0, 2.0, 3.0], [7.0, 8.0, 9.0]]\n");
  std::vector<Json> side = read_jsonl(dir.file("emb.jsonl"));
  REQUIRE(side.size() == 2);
  CHECK(side[1]["row"] == 1);
  CHECK(side[1]["id"] == "c");
}

TEST_CASE("write.npy converts to float32 by default and keeps the dtype when asked",
          "[io][write.npy]") {
  TempDir dir("npy");
  Item img;
  img.id = "img";
  img.kind = Kind::Image;
  img.tensor = Tensor::from_vector<uint8_t>({0, 7, 255, 128, 1, 2}, {1, 2, 3});
  for (std::string dtype : {"float32", "keep"}) {
    std::string path = dir.file(dtype + ".npy");
    auto sink = make_stage<WriteNpy>(write_npy_schema(),
                                     {{"path", path}, {"dtype", dtype}, {"sidecar", false}});
    sink->open(context());
    sink->write(img);
    sink->finish(true);
    CHECK_FALSE(fs::exists(dir.file(dtype + ".jsonl")));
    std::string out = python("import numpy as np\na = np.load(" + Json(path).dump() +
                                 ")\nprint(a.dtype, a.shape, a.ravel().tolist())\n",
                             dir);
    CHECK(out == (dtype == "keep" ? "uint8 (1, 1, 2, 3) [0, 7, 255, 128, 1, 2]\n"
                                  : "float32 (1, 1, 2, 3) [0.0, 7.0, 255.0, 128.0, 1.0, 2.0]\n"));
  }
}

TEST_CASE("write.npy finish(complete=false) commits the rows written so far", "[io][write.npy]") {
  TempDir dir("npy");
  std::string path = dir.file("partial.npy");
  {
    auto sink = make_stage<WriteNpy>(write_npy_schema(), {{"path", path}});
    sink->open(context());
    sink->write(embedding("a", {1, 2}));
    sink->write(embedding("b", {3, 4}));
    sink->finish(false);
  }
  CHECK(python("import numpy as np; print(np.load(" + Json(path).dump() + ").tolist())", dir) ==
        "[[1.0, 2.0], [3.0, 4.0]]\n");
  CHECK(read_jsonl(dir.file("partial.jsonl")).size() == 2);

  // A sink dropped without finish (a crash) leaves no file behind, not a broken one.
  std::string lost = dir.file("lost.npy");
  {
    auto sink = make_stage<WriteNpy>(write_npy_schema(), {{"path", lost}});
    sink->open(context());
    sink->write(embedding("a", {1, 2}));
  }
  CHECK_FALSE(fs::exists(lost));
  for (const auto& e : fs::directory_iterator(dir.path()))
    CHECK_THAT(e.path().filename().string(), !Contains(".tmp-"));

  // No rows at all: still a valid, empty array.
  std::string empty = dir.file("empty.npy");
  auto sink = make_stage<WriteNpy>(write_npy_schema(), {{"path", empty}});
  sink->open(context());
  sink->finish(false);
  CHECK(python("import numpy as np; print(np.load(" + Json(empty).dump() + ").shape)", dir) ==
        "(0,)\n");
}

TEST_CASE("write.npy per_item: names from the template, sub-folders, '..' neutralised",
          "[io][write.npy]") {
  TempDir dir("npy");
  std::string out = dir.file("spec");
  auto sink = make_stage<WriteNpy>(write_npy_schema(), {{"per_item", true}, {"dir", out}});
  sink->open(context());
  Item a = embedding("speaker1/utt.wav", {1, 2, 3});
  Item b = embedding("../../escape", {4, 5});  // per_item allows different shapes
  Item c = embedding("/etc/passwd", {6});
  b.index = 1;
  sink->write(a);
  sink->write(b);
  sink->write(c);
  CHECK_THROWS_WITH(sink->write(embedding("speaker1//utt.wav", {0})),
                    Contains("would overwrite speaker1/utt.wav.npy") && Contains("{index}"));
  sink->finish(true);
  CHECK(fs::exists(out + "/speaker1/utt.wav.npy"));
  CHECK(fs::exists(out + "/__/__/escape.npy"));
  CHECK(fs::exists(out + "/etc/passwd.npy"));
  CHECK(python("import numpy as np\nprint(np.load(" + Json(out + "/__/__/escape.npy").dump() +
                   ").tolist())\n",
               dir) == "[4.0, 5.0]\n");
  std::vector<Json> index = read_jsonl(out + "/index.jsonl");
  REQUIRE(index.size() == 3);
  CHECK(index[0]["file"] == "speaker1/utt.wav.npy");
  CHECK(index[1]["file"] == "__/__/escape.npy");
  CHECK(index[1]["id"] == "../../escape");
  CHECK(index[1]["shape"] == Json::array({2}));

  auto numbered = make_stage<WriteNpy>(
      write_npy_schema(), {{"per_item", true}, {"dir", out}, {"name", "rows/{index}-{id}.npy"}});
  numbered->open(context());
  b.index = 17;
  numbered->write(b);
  numbered->finish(true);
  CHECK(fs::exists(out + "/rows/17-__/__/escape.npy"));

  CHECK_THROWS_WITH(make_stage<WriteNpy>(write_npy_schema(),
                                         {{"per_item", true}, {"dir", out}, {"name", "x.npy"}}),
                    Contains("neither {id} nor {index}"));
  CHECK_THROWS_WITH(
      make_stage<WriteNpy>(write_npy_schema(),
                           {{"per_item", true}, {"dir", out}, {"name", "{id}-{stem}.npy"}}),
      Contains("only {id} and {index}"));
  CHECK_THROWS_WITH(make_stage<WriteNpy>(write_npy_schema(), {{"per_item", true}}),
                    Contains("needs `dir`"));
  CHECK_THROWS_WITH(make_stage<WriteNpy>(write_npy_schema(), Json::object()),
                    Contains("give `path`"));
}

TEST_CASE("write.jsonl writes identity, meta and the payload by kind", "[io][write.jsonl]") {
  TempDir dir("jsonl");
  std::string path = dir.file("out.jsonl");
  auto sink = make_stage<WriteJsonl>(write_jsonl_schema(), {{"path", path}});
  sink->open(context());
  Item text;
  text.id = "0";
  text.source = "inline";
  text.kind = Kind::Text;
  text.text = "a \"quoted\" ünïcode line\n";
  sink->write(text);
  Item rec;
  rec.id = "q1";
  rec.source = "q.txt:1";
  rec.kind = Kind::Record;
  rec.record = {{"score", 0.25}, {"id", "clash"}};
  rec.meta = {{"lang", "en"}};
  sink->write(rec);
  Item audio;
  audio.id = "clip";
  audio.kind = Kind::Audio;
  audio.sample_rate = 16000;
  audio.tensor = Tensor::from_vector<float>({0.1f, -0.5f}, {1, 2});
  sink->write(audio);
  sink->finish(true);

  std::string content = read_file(path);
  std::vector<Json> lines = read_jsonl(path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == Json{{"id", "0"},
                         {"source", "inline"},
                         {"kind", "text"},
                         {"text", "a \"quoted\" ünïcode line\n"},
                         {"meta", Json::object()}});
  CHECK(lines[1]["record"] == Json{{"score", 0.25}, {"id", "clash"}});
  CHECK(lines[1]["id"] == "q1");
  CHECK(lines[1]["meta"] == Json{{"lang", "en"}});
  CHECK(lines[2] == Json{{"id", "clip"},
                         {"source", ""},
                         {"kind", "audio"},
                         {"shape", {1, 2}},
                         {"dtype", "float32"},
                         {"sample_rate", 16000},
                         {"meta", Json::object()}});
  // Keys in a fixed, readable order.
  CHECK(content.rfind("{\"id\":\"0\",\"source\":\"inline\",\"kind\":\"text\",", 0) == 0);

  auto flat = make_stage<WriteJsonl>(write_jsonl_schema(),
                                     {{"path", path}, {"flatten", true}, {"include_tensor", true}});
  flat->open(context());
  flat->write(rec);
  Item nan = audio;
  nan.tensor = Tensor::from_vector<float>({0.1f, std::nanf(""), 1e-45f, 3.4028235e38f}, {4});
  flat->write(nan);
  flat->finish(true);
  lines = read_jsonl(path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["score"] == 0.25);
  CHECK(lines[0]["record.id"] == "clash");
  CHECK(lines[0]["id"] == "q1");
  // Shortest round-trip float text, NaN as null.
  CHECK_THAT(read_file(path), Contains("\"tensor\":[0.1,null,1e-45,3.4028235e+38]"));
}

TEST_CASE("csv_field quotes like RFC 4180", "[io][write.csv]") {
  CHECK(csv_field("plain", ',') == "plain");
  CHECK(csv_field("a,b", ',') == "\"a,b\"");
  CHECK(csv_field("a;b", ',') == "a;b");
  CHECK(csv_field("a;b", ';') == "\"a;b\"");
  CHECK(csv_field("say \"hi\"", ',') == "\"say \"\"hi\"\"\"");
  CHECK(csv_field("two\nlines", ',') == "\"two\nlines\"");
  CHECK(csv_field("cr\r", ',') == "\"cr\r\"");
  CHECK(csv_field("", ',').empty());
}

TEST_CASE("write.csv output is byte-identical to Python's csv.writer", "[io][write.csv]") {
  TempDir dir("csv");
  std::string path = dir.file("scores.csv");
  auto sink = make_stage<WriteCsv>(write_csv_schema(), {{"path", path}});
  sink->open(context());
  std::vector<Json> records = {
      {{"score", 0.5}, {"label", "dog, big"}, {"ok", true}},
      {{"score", -1}, {"label", "say \"hi\"\nthere"}, {"ok", false}, {"extra", 1}},
      {{"score", 1e-7}, {"label", nullptr}},
  };
  for (size_t i = 0; i < records.size(); ++i) {
    Item it;
    it.id = "id" + std::to_string(i);
    it.source = i == 1 ? "dir/with,comma.wav" : "x.wav";
    it.kind = Kind::Record;
    it.record = records[i];
    sink->write(it);
  }
  sink->finish(true);
  // The same cells, as the stage documents them (first item's keys sorted, null as empty).
  std::string expected = python(
      "import csv, sys\n"
      "w = csv.writer(sys.stdout)\n"
      "w.writerow(['id', 'source', 'label', 'ok', 'score'])\n"
      "w.writerow(['id0', 'x.wav', 'dog, big', 'true', '0.5'])\n"
      "w.writerow(['id1', 'dir/with,comma.wav', 'say \"hi\"\\nthere', 'false', '-1'])\n"
      "w.writerow(['id2', 'x.wav', '', '', '1e-07'])\n",
      dir);
  CHECK(read_file(path) == expected);
  // And Python reads back the original values.
  std::string back = python(
      "import csv\nprint(list(csv.reader(open(" + Json(path).dump() + ", newline=''))))\n", dir);
  CHECK_THAT(back, Contains("'say \"hi\"\\nthere'"));
}

TEST_CASE("write.csv: chosen columns from record, meta and text, lf endings, tabs",
          "[io][write.csv]") {
  TempDir dir("csv");
  std::string path = dir.file("t.tsv");
  auto sink = make_stage<WriteCsv>(write_csv_schema(),
                                   {{"path", path},
                                    {"columns", {"id", "text", "meta.lang", "chars", "missing"}},
                                    {"delimiter", "tab"},
                                    {"line_terminator", "lf"}});
  sink->open(context());
  Item it;
  it.id = "7";
  it.kind = Kind::Record;
  it.text = "tab\there";
  it.record = {{"chars", 8}};
  it.meta = {{"lang", "en"}};
  sink->write(it);
  sink->finish(true);
  CHECK(read_file(path) == "id\ttext\tmeta.lang\tchars\tmissing\n7\t\"tab\there\"\ten\t8\t\n");

  // Nothing written: still a header.
  std::string empty = dir.file("empty.csv");
  auto none = make_stage<WriteCsv>(write_csv_schema(), {{"path", empty}});
  none->open(context());
  none->finish(false);
  CHECK(read_file(empty) == "id,source\r\n");
}

namespace {

Item text_item(const std::string& id, const std::string& text) {
  Item it;
  it.id = id;
  it.source = "inline";
  it.kind = Kind::Text;
  it.text = text;
  return it;
}

// Runs `body` in a child process whose files may not grow past `max_bytes` (RLIMIT_FSIZE: writes
// beyond it fail with EFBIG, as they would on a full disk). Returns the child's exit code.
int with_file_size_limit(rlim_t max_bytes, const std::function<int()>& body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);  // a failed write, not a killed process
    struct rlimit lim {
      max_bytes, max_bytes
    };
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(90);
    int code = 91;
    try {
      code = body();
    } catch (...) {
      code = 92;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("a writer that runs out of disk leaves the previous file whole and no cut-off file",
          "[io][write.jsonl][write.npy]") {
  TempDir dir("diskfull");
  const std::string jsonl = dir.file("texts.jsonl");
  const std::string npy = dir.file("emb.npy");
  write_file(jsonl, "previous complete output\n");
  write_file(npy, "previous npy");
  // 200 lines of 100 bytes cannot fit in 4 KB: some write, or the commit, must fail. Which
  // throws depends on stdio buffering; either way the failure is a RunFailure.
  const int code = with_file_size_limit(4096, [&] {
    auto sink = make_stage<WriteJsonl>(write_jsonl_schema(), {{"path", jsonl}});
    sink->open(context());
    try {
      for (int i = 0; i < 200; ++i)
        sink->write(text_item(std::to_string(i), std::string(100, 'x')));
      sink->finish(true);
    } catch (const RunFailure&) {
      try {
        sink->finish(false);  // what the executor does after a failed run
      } catch (const RunFailure&) {
        return 0;
      }
      return 3;  // committed a file although a write had failed
    }
    return 4;  // no failure at all: the limit did not bite
  });
  CHECK(code == 0);
  CHECK(read_file(jsonl) == "previous complete output\n");
  CHECK_FALSE(fs::exists(partial_path(jsonl)));

  const int npy_code = with_file_size_limit(4096, [&] {
    auto sink = make_stage<WriteNpy>(write_npy_schema(), {{"path", npy}});
    sink->open(context());
    try {
      for (int i = 0; i < 64; ++i)
        sink->write(embedding(std::to_string(i), std::vector<float>(64)));
      sink->finish(true);
    } catch (const RunFailure&) {
      try {
        sink->finish(false);
      } catch (const RunFailure&) {
        return 0;
      }
      return 3;
    }
    return 4;
  });
  CHECK(npy_code == 0);
  CHECK(read_file(npy) == "previous npy");
  for (const auto& e : fs::directory_iterator(dir.path()))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("an interrupted run's output never replaces a complete earlier one",
          "[io][write.npy][write.jsonl][write.csv]") {
  TempDir dir("partial");
  const std::string npy = dir.file("emb.npy");
  const std::string jsonl = dir.file("rows.jsonl");
  const std::string csv = dir.file("rows.csv");
  for (const auto& p : {npy, jsonl, csv}) write_file(p, "complete earlier output");

  auto n = make_stage<WriteNpy>(write_npy_schema(), {{"path", npy}});
  auto j = make_stage<WriteJsonl>(write_jsonl_schema(), {{"path", jsonl}});
  auto c = make_stage<WriteCsv>(write_csv_schema(), {{"path", csv}});
  for (SinkStage* s : std::vector<SinkStage*>{n.get(), j.get(), c.get()}) {
    s->open(context());
    s->write(embedding("a", {1, 2, 3}));
    s->finish(false);  // stopped (Ctrl-C) after one item
  }
  for (const auto& p : {npy, jsonl, csv}) {
    INFO(p);
    CHECK(read_file(p) == "complete earlier output");
    CHECK(fs::exists(partial_path(p)));
  }
  CHECK(n->outputs().front() == partial_path(npy));
  CHECK(partial_path(npy) == dir.file("emb.partial.npy"));
  CHECK(python("import numpy as np; print(np.load(" + Json(partial_path(npy)).dump() + ").shape)",
               dir) == "(1, 3)\n");

  // A complete run replaces it as before.
  auto again = make_stage<WriteNpy>(write_npy_schema(), {{"path", npy}});
  again->open(context());
  again->write(embedding("a", {1, 2, 3}));
  again->finish(true);
  CHECK(python("import numpy as np; print(np.load(" + Json(npy).dump() + ").shape)", dir) ==
        "(1, 3)\n");
}

TEST_CASE("temporaries a killed writer left behind are removed by the next writer of that path",
          "[io][write.jsonl]") {
  TempDir dir("stale");
  const std::string path = dir.file("rows.jsonl");
  // A process that existed and is gone: its pid names the stale temporary.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  const std::string stale = path + ".tmp-" + std::to_string(child);
  const std::string alive = path + ".tmp-" + std::to_string(::getppid());  // a living process's
  const std::string other = dir.file("other.jsonl.tmp-" + std::to_string(child));
  for (const auto& p : {stale, alive, other}) write_file(p, "half a line");

  auto sink = make_stage<WriteJsonl>(write_jsonl_schema(), {{"path", path}});
  sink->open(context());
  sink->write(text_item("0", "a line"));
  sink->finish(true);
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(alive));  // may still be writing
  CHECK(fs::exists(other));  // another output's business
  CHECK(read_jsonl(path).size() == 1);
}
