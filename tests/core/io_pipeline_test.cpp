// The io stages inside the real engine: YAML → validated config → flow graph → files.
#include <sstream>

#include "embedflow/executor.h"
#include "stages/debug/register.h"
#include "stages/io/register.h"
#include "stages/text/register.h"
#include "tests/core/io_test_helpers.h"

using namespace embedflow;
using namespace embedflow::test;

namespace {}  // namespace

TEST_CASE("pipeline: writers keep source order behind a concurrent, jittery stage",
          "[io][pipeline]") {
  TempDir dir("pipe");
  std::string lines;
  for (int i = 0; i < 60; ++i) lines += "sentence " + std::to_string(i) + "\n";
  write_file(dir.file("in.txt"), lines);
  Registry reg = io_registry();
  PipelineConfig cfg = load_pipeline_string(
      "pipeline: order\n"
      "threads: 4\n"
      "stages:\n"
      "  - id: texts\n"
      "    type: source.text\n"
      "    params: {file: " +
          dir.file("in.txt") +
          "}\n"
          "  - id: jitter\n"
          "    type: debug.delay\n"
          "    params: {min_ms: 0, max_ms: 15, seed: 3}\n"
          "  - id: out\n"
          "    type: write.jsonl\n"
          "    params: {path: " +
          dir.file("out.jsonl") + "}\n",
      "order.yaml", reg);
  RunResult r = run_pipeline(cfg);
  INFO(r.message);
  REQUIRE(r.status == RunResult::Status::Ok);
  std::vector<Json> out = read_jsonl(dir.file("out.jsonl"));
  REQUIRE(out.size() == 60);
  for (int i = 0; i < 60; ++i) {
    CHECK(out[i]["id"] == std::to_string(i));
    CHECK(out[i]["text"] == "sentence " + std::to_string(i));
  }
}

TEST_CASE("pipeline: a bad line becomes an error record and the stats reach the CSV",
          "[io][pipeline]") {
  TempDir dir("pipe");
  write_file(dir.file("corpus.txt"), "hello world\ncaf\xE9\nthree words here\n");
  Registry reg = io_registry();
  PipelineConfig cfg = load_pipeline_string(
      "pipeline: stats\n"
      "errors: " +
          dir.file("errors.jsonl") +
          "\n"
          "stages:\n"
          "  - id: texts\n"
          "    type: source.text\n"
          "    params: {file: " +
          dir.file("corpus.txt") +
          "}\n"
          "  - id: stats\n"
          "    type: text.stats\n"
          "  - id: table\n"
          "    type: write.csv\n"
          "    params: {path: " +
          dir.file("stats.csv") +
          ", columns: [id, words, chars],"
          " line_terminator: lf}\n",
      "stats.yaml", reg);
  RunResult r = run_pipeline(cfg);
  INFO(r.message);
  REQUIRE(r.status == RunResult::Status::Ok);
  CHECK(read_file(dir.file("stats.csv")) == "id,words,chars\n0,2,11\n2,3,16\n");
  std::vector<Json> errors = read_jsonl(dir.file("errors.jsonl"));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].dump().find("not valid UTF-8") != std::string::npos);
  CHECK(errors[0].dump().find("\"1\"") != std::string::npos);  // the failed item's id
}

TEST_CASE("pipeline: a missing folder is reported at the source's YAML location",
          "[io][pipeline]") {
  TempDir dir("pipe");
  Registry reg = io_registry();
  PipelineConfig cfg = load_pipeline_string(
      "pipeline: missing\n"
      "stages:\n"
      "  - id: files\n"
      "    type: source.files\n"
      "    params:\n"
      "      dir: " +
          dir.file("nowhere") +
          "\n"
          "  - id: out\n"
          "    type: write.jsonl\n"
          "    params: {path: " +
          dir.file("out.jsonl") + "}\n",
      "missing.yaml", reg);
  // open() errors are configuration errors: thrown before any item runs.
  try {
    run_pipeline(cfg);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    CHECK_THAT(all_messages(e), Catch::Matchers::Contains("missing.yaml:6:12: stage 'files'") &&
                                    Catch::Matchers::Contains("does not exist"));
  }
}

namespace {

// A stand-in encoder for the test: text → [len(text)] embedding of its byte values.
class BytesEmbedding : public ItemStage {
 public:
  explicit BytesEmbedding(const Params&) {}
  void process(const Item& in, Item& out) override {
    std::vector<float> v(in.text.begin(), in.text.end());
    out.kind = Kind::Embedding;
    out.tensor = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
  }
};

StageSchema bytes_embedding_schema() {
  StageSchema s;
  s.type = "test.bytes";
  s.kind = StageKind::Map;
  s.inputs = {{"in", {Kind::Text}, "texts"}};
  s.output = Kind::Embedding;
  return s;
}

}  // namespace

TEST_CASE("pipeline: write.npy turns a row of another shape into an error record",
          "[io][pipeline]") {
  TempDir dir("pipe");
  Registry reg = io_registry();
  add_stage<BytesEmbedding>(reg, bytes_embedding_schema());
  PipelineConfig cfg = load_pipeline_string(
      "pipeline: shapes\n"
      "errors: " +
          dir.file("errors.jsonl") +
          "\n"
          "stages:\n"
          "  - id: texts\n"
          "    type: source.text\n"
          "    params: {items: [abc, de, fgh, ijkl, mno]}\n"
          "  - id: embed\n"
          "    type: test.bytes\n"
          "  - id: out\n"
          "    type: write.npy\n"
          "    params: {path: " +
          dir.file("emb.npy") + "}\n",
      "shapes.yaml", reg);
  RunResult r = run_pipeline(cfg);
  INFO(r.message);
  REQUIRE(r.status == RunResult::Status::Ok);
  CHECK(python("import numpy as np; print(np.load(" + Json(dir.file("emb.npy")).dump() +
                   ").astype(int).tolist())",
               dir) == "[[97, 98, 99], [102, 103, 104], [109, 110, 111]]\n");
  std::vector<Json> side = read_jsonl(dir.file("emb.jsonl"));
  REQUIRE(side.size() == 3);
  CHECK(side[1]["id"] == "2");
  CHECK(side[2]["row"] == 2);
  CHECK(side[2]["id"] == "4");
  std::vector<Json> errors = read_jsonl(dir.file("errors.jsonl"));
  REQUIRE(errors.size() == 2);
  for (const auto& e : errors) CHECK(e.dump().find("per_item: true") != std::string::npos);
}
