// The embedflow command line as a user runs it: exit codes, messages, outputs on disk, and
// what a stop leaves behind.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embedflow/item.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

// Starts `embedflow run YAML --progress off` in a child process (output discarded).
pid_t spawn_run(const std::string& yaml) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(EMBEDFLOW_CLI, EMBEDFLOW_CLI, "run", yaml.c_str(), "--progress", "off",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Waits until a writer's temporary `<name>.tmp-<pid>` appears in `dir`: the run has begun and
// its signal handlers are installed (libraries may catch SIGINT earlier, so /proc's SigCgt would
// not tell). False after 30 s.
bool wait_for_writer(const std::string& dir, const std::string& name) {
  auto started = [&] {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().filename().string().rfind(name + ".tmp-", 0) == 0) return true;
    return false;
  };
  for (int i = 0; i < 600 && !started(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return started();
}

// The exit code of child `pid`; -1 when it did not exit normally.
int exit_code_of(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string text_pipeline(const TempDir& dir, const std::string& extra_stage = "") {
  return R"(pipeline: cli_test
threads: 2
stages:
  - id: sentences
    type: source.text
    params: { items: ["one two", "three", "four five six"] }
  - id: stats
    type: text.stats
)" + extra_stage +
         R"(  - id: save
    type: write.jsonl
    params: { path: )" +
         dir.file("out/stats.jsonl") + R"( }
)";
}

}  // namespace

TEST_CASE("cli: run writes outputs and exits 0, --stats writes the summary as JSON") {
  TempDir dir;
  write_file(dir.file("p.yaml"), text_pipeline(dir));
  auto r =
      run_cli("run " + dir.file("p.yaml") + " --progress off --stats " + dir.file("stats.json"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto lines = read_lines(dir.file("out/stats.jsonl"));
  REQUIRE(lines.size() == 3);
  Json first = Json::parse(lines[0]);
  CHECK(first["id"] == "0");
  CHECK(lines[2].find("\"2\"") != std::string::npos);
  Json stats = Json::parse(read_file(dir.file("stats.json")));
  CHECK(stats["status"] == "ok");
  CHECK(stats["items"] == 3);
  CHECK(stats["stages"].size() == 3);
  CHECK(stats["stages"][1]["id"] == "stats");
  CHECK(stats["stages"][1]["items"] == 3);
  CHECK_THAT(r.output, Catch::Contains("3 items in"));
}

TEST_CASE("cli: an invalid pipeline exits 2 with every error located, before running anything") {
  TempDir dir;
  write_file(dir.file("bad.yaml"), R"(stages:
  - id: sentences
    type: source.txt
  - id: save
    type: write.jsonl
    params: { paht: x.jsonl }
)");
  auto r = run_cli("run " + dir.file("bad.yaml"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("bad.yaml:3:11: stage 'sentences': unknown stage type "
                                       "'source.txt' (did you mean 'source.text'?)"));
  CHECK_THAT(r.output,
             Catch::Contains(
                 "bad.yaml:6:15: stage 'save': unknown parameter 'paht' (did you mean 'path'?)"));
  CHECK_THAT(r.output, Catch::Contains("errors"));
  CHECK_FALSE(fs::exists(dir.file("x.jsonl")));

  auto v = run_cli("validate " + dir.file("bad.yaml"));
  CHECK(v.exit_code == 2);
}

TEST_CASE("cli: validate, --set, graph, stages, --version, usage errors") {
  TempDir dir;
  write_file(dir.file("p.yaml"), text_pipeline(dir));
  auto ok = run_cli("validate " + dir.file("p.yaml"));
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.output, Catch::Contains("ok (3 stages)"));

  auto bad_set = run_cli("validate " + dir.file("p.yaml") + " --set save.path=[1,2]");
  CHECK(bad_set.exit_code == 2);
  CHECK_THAT(bad_set.output, Catch::Contains("stage 'save': parameter 'path' expects a string"));

  auto set_run = run_cli("run " + dir.file("p.yaml") +
                         " --progress off --set save.path=" + dir.file("elsewhere.jsonl"));
  CHECK(set_run.exit_code == 0);
  CHECK(read_lines(dir.file("elsewhere.jsonl")).size() == 3);

  auto dot = run_cli("graph " + dir.file("p.yaml"));
  CHECK(dot.exit_code == 0);
  CHECK_THAT(dot.output, Catch::StartsWith("digraph \"cli_test\""));
  CHECK_THAT(dot.output, Catch::Contains("\"sentences\" -> \"stats\""));
  CHECK_THAT(dot.output, Catch::Contains("\"stats\" -> \"save\""));

  auto list = run_cli("stages");
  CHECK(list.exit_code == 0);
  CHECK_THAT(list.output, Catch::Contains("source.files"));
  CHECK_THAT(list.output, Catch::Contains("write.npy"));
  auto one = run_cli("stages write.npy");
  CHECK(one.exit_code == 0);
  CHECK_THAT(one.output, Catch::Contains("parameters:"));
  auto unknown = run_cli("stages write.nyp");
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.output, Catch::Contains("did you mean 'write.npy'"));

  auto version = run_cli("--version");
  CHECK(version.exit_code == 0);
  CHECK_THAT(version.output, Catch::Contains("embedflow 0."));

  CHECK(run_cli("").exit_code == 2);
  CHECK(run_cli("run").exit_code == 2);
  CHECK(run_cli("run /no/such/file.yaml").exit_code == 2);
  CHECK(run_cli("frobnicate").exit_code == 2);
  CHECK(run_cli("run --help").exit_code == 0);
}

TEST_CASE("cli: item errors are skipped into errors.jsonl, on_error fail exits 1") {
  TempDir dir;
  // Invalid UTF-8 in one line of the text file makes that item an error record.
  write_file(dir.file("lines.txt"), "good one\nbad \xff\xfe line\ngood two\n");
  std::string yaml = R"(stages:
  - id: lines
    type: source.text
    params: { file: )" +
                     dir.file("lines.txt") + R"( }
  - id: stats
    type: text.stats
  - id: save
    type: write.jsonl
    params: { path: )" +
                     dir.file("out/s.jsonl") + R"( }
)";
  write_file(dir.file("skip.yaml"), yaml);
  auto r = run_cli("run " + dir.file("skip.yaml") + " --progress off");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(read_lines(dir.file("out/s.jsonl")).size() == 2);
  auto errors = read_lines(dir.file("out/errors.jsonl"));
  REQUIRE(errors.size() == 1);
  Json e = Json::parse(errors[0]);
  CHECK(e["stage"] == "lines");
  CHECK_THAT(e["error"].get<std::string>(), Catch::Contains("UTF-8"));
  CHECK_THAT(r.output, Catch::Contains("1 item(s) failed"));

  write_file(dir.file("fail.yaml"), "on_error: fail\n" + yaml);
  auto f = run_cli("run " + dir.file("fail.yaml") + " --progress off");
  CHECK(f.exit_code == 1);
  CHECK_THAT(f.output, Catch::Contains("on_error"));
}

TEST_CASE("cli: SIGINT stops the run, exits 130 and leaves only whole output files") {
  TempDir dir;
  {
    std::ofstream f(dir.file("many.txt"));
    for (int i = 0; i < 200000; ++i) f << "line number " << i << "\n";
  }
  write_file(dir.file("slow.yaml"), R"(threads: 2
stages:
  - id: lines
    type: source.text
    params: { file: )" + dir.file("many.txt") +
                                        R"( }
  - id: slow
    type: debug.delay
    concurrency: 4
    params: { min_ms: 1, max_ms: 2 }
  - id: save
    type: write.jsonl
    params: { path: )" + dir.file("out/lines.jsonl") +
                                        R"( }
)");
  pid_t pid = spawn_run(dir.file("slow.yaml"));
  REQUIRE(wait_for_writer(dir.file("out"), "lines.jsonl"));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  kill(pid, SIGINT);
  CHECK(exit_code_of(pid) == 130);
  // The output is whole: every line parses, ids are a gap-free prefix of the source.
  auto lines = read_lines(dir.file("out/lines.jsonl"));
  CHECK(lines.size() > 0);
  CHECK(lines.size() < 200000);
  for (size_t i = 0; i < lines.size(); ++i) {
    Json j = Json::parse(lines[i]);
    REQUIRE(j["id"] == std::to_string(i));
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir.path()))
    CHECK(entry.path().string().find(".tmp") == std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// What users' scripts rely on: exit codes that tell success from nothing done, outputs that
// are never destroyed or mixed.

namespace {

std::string lines_pipeline(const std::string& file, const std::string& out,
                           const std::string& delay = "") {
  return R"(stages:
  - id: lines
    type: source.text
    params: { file: ")" +
         file + R"(" }
)" + delay +
         R"(  - id: stats
    type: text.stats
  - id: save
    type: write.jsonl
    params: { path: )" +
         out + R"( }
)";
}

}  // namespace

TEST_CASE("cli: a run that produced nothing, or whose every item failed, exits 1") {
  TempDir dir;
  write_file(dir.file("empty.txt"), "");
  write_file(dir.file("empty.yaml"), lines_pipeline(dir.file("empty.txt"), dir.file("o/e.jsonl")));
  auto empty = run_cli("run " + dir.file("empty.yaml") + " --progress off");
  INFO(empty.output);
  CHECK(empty.exit_code == 1);
  CHECK_THAT(empty.output, Catch::Contains("produced nothing"));

  write_file(dir.file("bad.txt"), "\xff\n\xfe\n");  // every line invalid UTF-8
  write_file(dir.file("bad.yaml"), lines_pipeline(dir.file("bad.txt"), dir.file("o/b.jsonl")));
  auto bad = run_cli("run " + dir.file("bad.yaml") + " --progress off");
  INFO(bad.output);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Catch::Contains("every item failed"));
}

TEST_CASE("cli: `file: -` reads standard input once, through a pipe") {
  TempDir dir;
  write_file(dir.file("p.yaml"), lines_pipeline("-", dir.file("out/s.jsonl")));
  auto r = run_command("printf 'a b\\nc d e\\n' | '" + std::string(EMBEDFLOW_CLI) + "' run " +
                       dir.file("p.yaml") + " --progress off");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto lines = read_lines(dir.file("out/s.jsonl"));
  REQUIRE(lines.size() == 2);
  CHECK(Json::parse(lines[1])["source"] == "<stdin>:2");
}

TEST_CASE(
    "cli: validate rejects what run would: a FIFO as output, a missing input, a shared file") {
  TempDir dir;
  write_file(dir.file("in.txt"), "x\n");
  REQUIRE(::mkfifo(dir.file("fifo.jsonl").c_str(), 0600) == 0);
  write_file(dir.file("fifo.yaml"), lines_pipeline(dir.file("in.txt"), dir.file("fifo.jsonl")));
  auto fifo = run_cli("validate " + dir.file("fifo.yaml"));
  CHECK(fifo.exit_code == 2);
  CHECK_THAT(fifo.output, Catch::Contains("is a FIFO") && Catch::Contains("would destroy it"));
  // run refuses it too, and the FIFO is still there.
  CHECK(run_cli("run " + dir.file("fifo.yaml") + " --progress off").exit_code == 2);
  struct stat st {};
  REQUIRE(::lstat(dir.file("fifo.jsonl").c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));

  write_file(dir.file("missing.yaml"), lines_pipeline(dir.file("nope.txt"), dir.file("o.jsonl")));
  auto missing = run_cli("validate " + dir.file("missing.yaml"));
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Catch::Contains("nope.txt' does not exist"));

  write_file(dir.file("twice.yaml"), lines_pipeline(dir.file("in.txt"), dir.file("o.jsonl")) +
                                         "  - id: again\n    type: write.jsonl\n    input: stats\n"
                                         "    params: { path: " +
                                         dir.file("./o.jsonl") + " }\n");
  auto twice = run_cli("validate " + dir.file("twice.yaml"));
  CHECK(twice.exit_code == 2);
  CHECK_THAT(twice.output, Catch::Contains("is also written by stage 'save'"));
}

TEST_CASE("cli: two runs into one output folder: the second fails at once, the first is whole") {
  TempDir dir;
  {
    std::ofstream f(dir.file("many.txt"));
    for (int i = 0; i < 3000; ++i) f << "line " << i << "\n";
  }
  write_file(dir.file("slow.yaml"),
             lines_pipeline(dir.file("many.txt"), dir.file("out/a.jsonl"),
                            "  - id: slow\n    type: debug.delay\n    params: { min_ms: 1, "
                            "max_ms: 2 }\n"));
  write_file(dir.file("other.yaml"), lines_pipeline(dir.file("many.txt"), dir.file("out/b.jsonl")));
  pid_t pid = spawn_run(dir.file("slow.yaml"));
  REQUIRE(wait_for_writer(dir.file("out"), "a.jsonl"));
  auto second = run_cli("run " + dir.file("other.yaml") + " --progress off");
  INFO(second.output);
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.output, Catch::Contains("another run is writing into"));
  CHECK_FALSE(fs::exists(dir.file("out/b.jsonl")));
  CHECK(exit_code_of(pid) == 0);
  CHECK(read_lines(dir.file("out/a.jsonl")).size() == 3000);
  // With the first run done, the folder is free again.
  CHECK(run_cli("run " + dir.file("other.yaml") + " --progress off").exit_code == 0);
}

TEST_CASE("cli: Ctrl-C on a re-run keeps the complete output of the run before") {
  TempDir dir;
  {
    std::ofstream f(dir.file("many.txt"));
    for (int i = 0; i < 200000; ++i) f << "line " << i << "\n";
  }
  // A complete earlier output.
  write_file(dir.file("out/lines.jsonl"), "{\"complete\": true}\n");
  write_file(dir.file("slow.yaml"),
             lines_pipeline(dir.file("many.txt"), dir.file("out/lines.jsonl"),
                            "  - id: slow\n    type: debug.delay\n    concurrency: 4\n"
                            "    params: { min_ms: 1, max_ms: 2 }\n"));
  pid_t pid = spawn_run(dir.file("slow.yaml"));
  REQUIRE(wait_for_writer(dir.file("out"), "lines.jsonl"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(pid, SIGINT);
  CHECK(exit_code_of(pid) == 130);
  CHECK(read_file(dir.file("out/lines.jsonl")) == "{\"complete\": true}\n");
  auto partial = read_lines(dir.file("out/lines.partial.jsonl"));
  CHECK(partial.size() > 0);
  CHECK(partial.size() < 200000);
}
