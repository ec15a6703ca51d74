// Issue #18 (hardening) through the CLI as a user runs it: memory bounded on hostile text,
// the declared row shape of an empty run's embeddings.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embedflow/item.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

struct MeasuredRun {
  int exit_code = -1;
  long peak_rss_kb = 0;  // of this child alone (wait4), not of every child the tests ran
  std::string output;
};

// `embedflow run YAML --progress off`, its stdout and stderr into `log`.
MeasuredRun run_measured(const std::string& yaml, const std::string& log) {
  MeasuredRun r;
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl(EMBEDFLOW_CLI, EMBEDFLOW_CLI, "run", yaml.c_str(), "--progress", "off",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  REQUIRE(::wait4(pid, &status, 0, &usage) == pid);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.peak_rss_kb = usage.ru_maxrss;
  r.output = read_file(log);
  return r;
}

std::string python_out(const std::string& code, const TempDir& dir) {
  write_file(dir.file("check.py"), code);
  CommandResult r = run_command(std::string("'") + EMBEDFLOW_REFERENCE_PYTHON + "' '" +
                                dir.file("check.py") + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

const std::string kTinyBert = source_path("tests/fixtures/text/tiny-bert-uncased");

// A file whose second line is 64 MiB of one word, between two ordinary lines; the fourth line is
// long (512 KiB of words) but within the default max_line_bytes of 1 MiB.
void write_hostile_text(const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  out << "the first sentence\n";
  const std::string block(1 << 20, 'a');
  for (int i = 0; i < 64; ++i) out << block;
  out << "\nthe third sentence\n";
  for (int i = 0; i < (512 << 10) / 8; ++i) out << "words a ";
  out << "\n";
}

// The peak resident memory of the same pipeline on two short lines: what the program costs
// before any text does (libraries, model).
long baseline_rss_kb(const TempDir& dir, const std::string& yaml_text_for) {
  write_file(dir.file("small.txt"), "one line\nand another\n");
  write_file(dir.file("small.yaml"), yaml_text_for);
  MeasuredRun r = run_measured(dir.file("small.yaml"), dir.file("small.log"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return r.peak_rss_kb;
}

std::string text_pipeline(const std::string& input, const std::string& middle,
                          const std::string& output) {
  return "pipeline: long\n"
         "stages:\n"
         "  - {id: texts, type: source.text, params: {file: " +
         input + "}}\n" + middle + "  - {id: out, type: " + output + "}\n";
}

}  // namespace

TEST_CASE("cli: a 64 MiB text line is one failed item, memory stays bounded (text.stats)",
          "[cli][hardening]") {
  TempDir dir("longline");
  write_hostile_text(dir.file("in.txt"));
  const std::string middle = "  - {id: stats, type: text.stats}\n";
  const std::string writer = "write.jsonl, params: {path: " + dir.file("out/s.jsonl") + "}";
  const long baseline = baseline_rss_kb(
      dir, text_pipeline(dir.file("small.txt"), middle,
                         "write.jsonl, params: {path: " + dir.file("small/s.jsonl") + "}"));
  write_file(dir.file("p.yaml"), text_pipeline(dir.file("in.txt"), middle, writer));
  MeasuredRun r = run_measured(dir.file("p.yaml"), dir.file("log.txt"));
  INFO(r.output);
  INFO("peak RSS " << r.peak_rss_kb << " KB, on two short lines " << baseline << " KB");
  CHECK(r.exit_code == 0);
  // std::getline held the whole line and its copies: 120 MB more than the baseline before.
  CHECK(r.peak_rss_kb < baseline + 32 * 1024);
  CHECK(r.peak_rss_kb < 300 * 1024);
  std::vector<Json> out = read_jsonl(dir.file("out/s.jsonl"));
  REQUIRE(out.size() == 3);
  CHECK(out[0]["id"] == "0");
  CHECK(out[1]["id"] == "2");
  CHECK(out[2]["id"] == "3");
  CHECK(out[2]["record"]["bytes"] == (512 << 10));
  std::vector<Json> errors = read_jsonl(dir.file("out/errors.jsonl"));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0]["id"] == "1");
  const std::string message = errors[0]["error"].get<std::string>();
  CHECK_THAT(message, Catch::Contains(dir.file("in.txt") + ":2") &&
                          Catch::Contains(std::to_string(64 << 20) + " bytes") &&
                          Catch::Contains("max_line_bytes (1048576)"));
}

TEST_CASE("cli: a 64 MiB text line is one failed item, memory stays bounded (encode.text)",
          "[cli][hardening]") {
  TempDir dir("longline");
  write_hostile_text(dir.file("in.txt"));
  const std::string middle =
      "  - {id: embed, type: encode.text, params: {model: " + kTinyBert + "}}\n";
  const long baseline = baseline_rss_kb(
      dir, text_pipeline(dir.file("small.txt"), middle,
                         "write.npy, params: {path: " + dir.file("small/e.npy") + "}"));
  write_file(dir.file("p.yaml"),
             text_pipeline(dir.file("in.txt"), middle,
                           "write.npy, params: {path: " + dir.file("out/e.npy") + "}"));
  MeasuredRun r = run_measured(dir.file("p.yaml"), dir.file("log.txt"));
  INFO(r.output);
  INFO("peak RSS " << r.peak_rss_kb << " KB, on two short lines " << baseline << " KB");
  CHECK(r.exit_code == 0);
  // The 512 KiB line is tokenized (and truncated to the model's length) in a few copies of it.
  CHECK(r.peak_rss_kb < baseline + 48 * 1024);
  CHECK(r.peak_rss_kb < 300 * 1024);
  std::vector<Json> rows = read_jsonl(dir.file("out/e.jsonl"));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0]["id"] == "0");
  CHECK(rows[1]["id"] == "2");
  CHECK(rows[2]["id"] == "3");
  std::vector<Json> errors = read_jsonl(dir.file("out/errors.jsonl"));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0]["id"] == "1");
  CHECK_THAT(errors[0]["error"].get<std::string>(), Catch::Contains("max_line_bytes"));
}

TEST_CASE("cli: an empty input gives encode.text's write.npy the shape (0, hidden size)",
          "[cli][hardening]") {
  TempDir dir("emptyshape");
  write_file(dir.file("empty.txt"), "");
  write_file(dir.file("p.yaml"),
             "pipeline: empty\n"
             "stages:\n"
             "  - {id: texts, type: source.text, params: {file: " +
                 dir.file("empty.txt") +
                 "}}\n"
                 "  - {id: embed, type: encode.text, params: {model: " +
                 kTinyBert +
                 "}}\n"
                 "  - {id: out, type: write.npy, params: {path: " +
                 dir.file("out/e.npy") + "}}\n");
  MeasuredRun r = run_measured(dir.file("p.yaml"), dir.file("log.txt"));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("produced nothing"));
  // The width comes from the model's own config.json, read by Python.
  CHECK(python_out("import json, numpy as np\n"
                   "d = json.load(open('" +
                       kTinyBert +
                       "/config.json'))['hidden_size']\n"
                       "a = np.load('" +
                       dir.file("out/e.npy") +
                       "')\n"
                       "print(a.shape == (0, d), a.dtype)\n",
                   dir) == "True float32\n");
}
