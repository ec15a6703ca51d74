// Issue #18 (hardening) in the engine and the io stages: the errors file follows the outputs'
// replacement rule, an empty input still gives write.npy its row shape, over-long text lines.
#include <sstream>

#include "embedflow/executor.h"
#include "stages/debug/register.h"
#include "stages/io/manifest.h"
#include "stages/io/register.h"
#include "stages/text/register.h"
#include "tests/core/io_test_helpers.h"

#include <filesystem>

using namespace embedflow;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

// source.text over `input` → text.stats → write.csv, errors to `errors.jsonl` in `dir`.
PipelineConfig stats_pipeline(const TempDir& dir, const std::string& input,
                              const std::string& on_error = "skip") {
  static Registry reg = io_registry();
  return load_pipeline_string(
      "pipeline: stats\n"
      "errors: " +
          dir.file("errors.jsonl") +
          "\n"
          "on_error: " +
          on_error +
          "\n"
          "stages:\n"
          "  - id: texts\n"
          "    type: source.text\n"
          "    params: {file: " +
          dir.file(input) +
          "}\n"
          "  - id: stats\n"
          "    type: text.stats\n"
          "  - id: table\n"
          "    type: write.csv\n"
          "    params: {path: " +
          dir.file("stats.csv") + ", columns: [id, words]}\n",
      "stats.yaml", reg);
}

const std::string kOneBadLine = "hello world\ncaf\xE9\nthree words here\n";

}  // namespace

TEST_CASE("errors file: a complete run without errors removes the previous run's records",
          "[io][errors]") {
  TempDir dir("errs");
  write_file(dir.file("bad.txt"), kOneBadLine);
  write_file(dir.file("good.txt"), "hello world\nthree words here\n");
  RunResult first = run_pipeline(stats_pipeline(dir, "bad.txt"));
  REQUIRE(first.status == RunResult::Status::Ok);
  CHECK(first.errors == 1);
  CHECK(first.errors_file == dir.file("errors.jsonl"));
  REQUIRE(read_lines(dir.file("errors.jsonl")).size() == 1);
  // Nothing but the final file is left: no temporary beside it.
  for (const auto& e : fs::directory_iterator(dir.path()))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);

  RunResult second = run_pipeline(stats_pipeline(dir, "good.txt"));
  REQUIRE(second.status == RunResult::Status::Ok);
  CHECK(second.errors == 0);
  CHECK(second.errors_file.empty());
  // The old record described an item of another input: it must not outlive its run.
  CHECK_FALSE(fs::exists(dir.file("errors.jsonl")));
}

TEST_CASE("errors file: a stopped run leaves the previous complete errors file as it was",
          "[io][errors]") {
  TempDir dir("errs");
  write_file(dir.file("bad.txt"), kOneBadLine);
  REQUIRE(run_pipeline(stats_pipeline(dir, "bad.txt")).errors == 1);
  const std::string before = read_file(dir.file("errors.jsonl"));
  REQUIRE_FALSE(before.empty());

  // Stopped before the first item: it has nothing to say about the items the earlier run saw.
  std::atomic<bool> stop{true};
  RunOptions options;
  options.stop = &stop;
  RunResult stopped = run_pipeline(stats_pipeline(dir, "bad.txt"), options);
  CHECK(stopped.status == RunResult::Status::Stopped);
  CHECK(read_file(dir.file("errors.jsonl")) == before);
}

TEST_CASE("errors file: a failed run's records go beside the previous complete file",
          "[io][errors]") {
  TempDir dir("errs");
  write_file(dir.file("bad.txt"), kOneBadLine);
  write_file(dir.file("worse.txt"), "\xFF\xFE first\nsecond\n");
  REQUIRE(run_pipeline(stats_pipeline(dir, "bad.txt")).errors == 1);
  const std::string before = read_file(dir.file("errors.jsonl"));

  // on_error: fail ends the run at its first error: a partial record of a partial run.
  RunResult failed = run_pipeline(stats_pipeline(dir, "worse.txt", "fail"));
  CHECK(failed.status == RunResult::Status::Failed);
  CHECK(failed.errors == 1);
  CHECK(read_file(dir.file("errors.jsonl")) == before);
  CHECK(failed.errors_file == dir.file("errors.partial.jsonl"));
  const std::vector<std::string> partial = read_lines(dir.file("errors.partial.jsonl"));
  REQUIRE(partial.size() == 1);
  CHECK(partial[0].find("worse.txt:1") != std::string::npos);
}

TEST_CASE("errors file: a failed run without a previous file writes errors.jsonl", "[io][errors]") {
  TempDir dir("errs");
  write_file(dir.file("worse.txt"), "\xFF\xFE first\nsecond\n");
  RunResult failed = run_pipeline(stats_pipeline(dir, "worse.txt", "fail"));
  CHECK(failed.status == RunResult::Status::Failed);
  CHECK(failed.errors_file == dir.file("errors.jsonl"));
  CHECK(read_lines(dir.file("errors.jsonl")).size() == 1);
  CHECK_FALSE(fs::exists(dir.file("errors.partial.jsonl")));
}

TEST_CASE("write.npy: an empty input gives the rows' declared shape, (0, D) not (0,)",
          "[io][shape]") {
  TempDir dir("shape");
  // numpy writes the empty (0, 7) input: the expectation does not come from our npy writer.
  python("import numpy as np\nnp.save('" + dir.file("empty.npy") +
             "', np.zeros((0, 7), dtype=np.float32))\n",
         dir);
  static Registry reg = io_registry();
  PipelineConfig cfg = load_pipeline_string(
      "pipeline: empty\n"
      "stages:\n"
      "  - id: rows\n"
      "    type: source.npy\n"
      "    params: {path: " +
          dir.file("empty.npy") +
          ", sidecar: false}\n"
          "  - id: pass\n"
          "    type: debug.delay\n"
          "    params: {max_ms: 0}\n"
          "  - id: save\n"
          "    type: write.npy\n"
          "    params: {path: " +
          dir.file("out/copy.npy") + "}\n",
      "empty.yaml", reg);
  RunResult r = run_pipeline(cfg);
  INFO(r.message);
  CHECK(r.items == 0);
  REQUIRE(fs::exists(dir.file("out/copy.npy")));
  CHECK(python("import numpy as np\na = np.load('" + dir.file("out/copy.npy") +
                   "')\nprint(a.shape, a.dtype)\n",
               dir) == "(0, 7) float32\n");
}

TEST_CASE("LineReader: lines up to max_line_bytes are whole, longer ones are flagged and skipped",
          "[io][long_line]") {
  TempDir dir("lines");
  const std::string at_limit(100, 'x'), over(101, 'y'), big(200000, 'z');  // big spans buffers
  write_file(dir.file("in.txt"),
             at_limit + "\n" + over + "\n" + at_limit + "\r\n" + big + "\nlast without newline");
  io::LineReader reader(dir.file("in.txt"), 100);
  std::string line;
  REQUIRE(reader.next(line));
  CHECK(line == at_limit);
  CHECK_FALSE(reader.too_long());
  REQUIRE(reader.next(line));
  CHECK(line.empty());
  CHECK(reader.too_long());
  CHECK(reader.length() == 101);
  REQUIRE(reader.next(line));  // the "\r" of "\r\n" is not the text's
  CHECK(line == at_limit);
  CHECK_FALSE(reader.too_long());
  REQUIRE(reader.next(line));
  CHECK(reader.too_long());
  CHECK(reader.length() == 200000);
  CHECK(line.capacity() < 1000);  // not held
  REQUIRE(reader.next(line));
  CHECK(line == "last without newline");
  CHECK(reader.line_number() == 5);
  CHECK_FALSE(reader.next(line));

  // Without a limit (other callers): a 200000-byte line is read whole.
  io::LineReader unlimited(dir.file("in.txt"));
  for (int i = 0; i < 4; ++i) REQUIRE(unlimited.next(line));
  CHECK(line == big);
  CHECK_FALSE(unlimited.too_long());
}
