// Batch jobs in process (jobs::run_job, jobs::merge_shards) with torch-free stages: resumable
// runs, a stopped run resumed, shards merged, each against one ordinary run of the same
// pipeline, with several items in flight on several threads. The CLI's kill -9 and Slurm tests
// (tests/core/batch_job_test.cpp, tests/slurm) cover the process side; this suite is what the
// thread sanitizer runs over (tools/sanitize.sh), together with the executor tests.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include "embedflow/executor.h"
#include "embedflow/jobs/batch_job.h"
#include "embedflow/registry.h"
#include "stages/debug/register.h"
#include "stages/io/register.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using namespace embedflow;
using embedflow::test::load_npy;
using embedflow::test::read_file;
using embedflow::test::read_lines;
using embedflow::test::TempDir;
using embedflow::test::write_file;

namespace {

constexpr int64_t kDim = 3;

// The vector test.embed gives a text, computed here independently of any batch it was in.
std::vector<float> expected_vector(const std::string& text) {
  uint32_t h = 2166136261u;  // FNV-1a 32
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return {static_cast<float>(text.size()), static_cast<float>(h % 1000u) / 8.0f,
          static_cast<float>(static_cast<unsigned char>(text.empty() ? 0 : text.back()))};
}

// Shared by the stages of the run in progress and the test body.
struct Counters {
  std::atomic<int> embedded{0};     // items test.embed computed
  std::atomic<int> running{0};      // test.slow calls in progress
  std::atomic<int> max_running{0};  // their most at once
  std::atomic<int> stop_after{-1};  // test.slow requests a stop after this many items (-1: never)
  std::atomic<int> slowed{0};       // test.slow calls completed
  std::atomic<bool> stop{false};    // the run's RunOptions::stop
  void reset() {
    embedded = 0;
    running = 0;
    max_running = 0;
    stop_after = -1;
    slowed = 0;
    stop = false;
  }
};
Counters& counters() {
  static Counters c;
  return c;
}

// test.slow: passes text on after a pause that depends on the position, so items finish out of
// order; records how many calls overlap and requests the run's stop when asked to.
class SlowStage : public ItemStage {
 public:
  explicit SlowStage(const Params&) {}
  void process(const Item& in, Item& out) override {
    Counters& c = counters();
    int now = ++c.running;
    for (int m = c.max_running.load(); now > m && !c.max_running.compare_exchange_weak(m, now);) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200 + (in.index * 7919) % 1800));
    out = in;
    --c.running;
    int done = ++c.slowed;
    if (c.stop_after >= 0 && done >= c.stop_after) c.stop = true;
  }
};

// test.embed: a batch stage turning each text into expected_vector(text).
class EmbedStage : public BatchStage {
 public:
  explicit EmbedStage(const Params&) {}
  void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) override {
    for (size_t i = 0; i < in.size(); ++i) {
      out[i].kind = Kind::Embedding;
      out[i].tensor = Tensor::from_vector(expected_vector(in[i]->text), {kDim});
      ++counters().embedded;
    }
  }
};

Registry job_registry() {
  Registry reg;
  register_io_stages(reg);
  register_debug_stages(reg);
  {
    StageSchema s;
    s.type = "test.slow";
    s.kind = StageKind::Map;
    s.summary = "pause, count overlapping calls, maybe request a stop";
    s.inputs = {PortSpec{"in", {Kind::Text}, "text", false}};
    s.output = Kind::Text;
    s.default_concurrency = 0;
    add_stage<SlowStage>(reg, s);
  }
  {
    StageSchema s;
    s.type = "test.embed";
    s.kind = StageKind::Batch;
    s.summary = "text to a 3-float vector";
    s.inputs = {PortSpec{"in", {Kind::Text}, "text", false}};
    s.output = Kind::Embedding;
    s.default_concurrency = 1;
    s.default_batch_size = 4;
    add_stage<EmbedStage>(reg, s);
  }
  return reg;
}

// `n` lines "line <i> " followed by i % 13 x's, so that texts (and vectors) differ in length.
void write_lines(const std::string& path, int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += "line " + std::to_string(i) + " " + std::string(i % 13, 'x') + "\n";
  write_file(path, s);
}

std::string pipeline_yaml(const std::string& input, const std::string& out) {
  return "pipeline: job\n"
         "threads: 4\n"
         "max_in_flight: 16\n"
         "stages:\n"
         "  - id: texts\n"
         "    type: source.text\n"
         "    params: {file: " +
         input +
         "}\n"
         "  - id: jitter\n"
         "    type: debug.delay\n"
         "    params: {min_ms: 0, max_ms: 2, seed: 7}\n"
         "  - id: slow\n"
         "    type: test.slow\n"
         "  - id: lines\n"
         "    type: write.jsonl\n"
         "    params: {path: " +
         out +
         "/lines.jsonl}\n"
         "  - id: embed\n"
         "    type: test.embed\n"
         "    input: slow\n"
         "    params: {batch_size: 4}\n"
         "  - id: vectors\n"
         "    type: write.npy\n"
         "    params: {path: " +
         out + "/vectors.npy}\n";
}

PipelineConfig load(const Registry& reg, const std::string& input, const std::string& out) {
  return load_pipeline_string(pipeline_yaml(input, out), "job.yaml", reg);
}

// What one run over `n` lines must write, from the lines themselves.
void check_outputs(const std::string& out, int n) {
  std::vector<std::string> lines = read_lines(out + "/lines.jsonl");
  REQUIRE(lines.size() == static_cast<size_t>(n));
  Tensor vectors = load_npy(out + "/vectors.npy");
  REQUIRE(vectors.shape() == std::vector<int64_t>{n, kDim});
  std::vector<std::string> ids = read_lines(out + "/vectors.jsonl");
  REQUIRE(ids.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const std::string text = "line " + std::to_string(i) + " " + std::string(i % 13, 'x');
    Json row = Json::parse(lines[static_cast<size_t>(i)]);
    INFO("row " << i << ": " << row.dump());
    CHECK(row["id"] == std::to_string(i));
    CHECK(row["text"] == text);
    CHECK(Json::parse(ids[static_cast<size_t>(i)])["id"] == std::to_string(i));
    std::vector<float> want = expected_vector(text);
    for (int64_t d = 0; d < kDim; ++d)
      CHECK(vectors.data<float>()[i * kDim + d] == want[static_cast<size_t>(d)]);
  }
}

void require_same_bytes(const std::string& a, const std::string& b) {
  for (const char* name : {"lines.jsonl", "vectors.npy", "vectors.jsonl"}) {
    INFO(name);
    REQUIRE(fs::exists(fs::path(b) / name));
    CHECK(read_file((fs::path(a) / name).string()) == read_file((fs::path(b) / name).string()));
  }
}

RunOptions run_options() {
  RunOptions o;
  o.stop = &counters().stop;
  return o;
}

}  // namespace

TEST_CASE("jobs: a resumable run writes what an ordinary run writes, items in flight at once") {
  TempDir dir("jobs-resumable");
  const int n = 150;
  write_lines(dir.file("in.txt"), n);
  Registry reg = job_registry();

  counters().reset();
  RunResult plain = run_pipeline(load(reg, dir.file("in.txt"), dir.file("plain")), run_options());
  INFO(plain.message);
  REQUIRE(plain.status == RunResult::Status::Ok);
  check_outputs(dir.file("plain"), n);

  counters().reset();
  jobs::JobOptions job;
  job.resumable = true;
  job.part_size = 16;  // several parts, the last one short
  RunResult r = jobs::run_job(load(reg, dir.file("in.txt"), dir.file("job")), job, run_options());
  INFO(r.message);
  REQUIRE(r.status == RunResult::Status::Ok);
  CHECK(r.items == static_cast<uint64_t>(n));
  CHECK(counters().embedded == n);
  // Several items were in test.slow at once: the run exercised the concurrent paths.
  CHECK(counters().max_running >= 2);
  require_same_bytes(dir.file("plain"), dir.file("job"));
  // The outputs are final: the job folder (journal, parts) is gone.
  CHECK_FALSE(fs::exists(dir.file("job/.embedflow")));
}

TEST_CASE("jobs: a stopped resumable run, resumed, ends with every item exactly once") {
  TempDir dir("jobs-stop");
  const int n = 200;
  write_lines(dir.file("in.txt"), n);
  Registry reg = job_registry();
  jobs::JobOptions job;
  job.resumable = true;
  job.part_size = 16;

  counters().reset();
  counters().stop_after = 40;
  RunResult first =
      jobs::run_job(load(reg, dir.file("in.txt"), dir.file("job")), job, run_options());
  INFO(first.message);
  REQUIRE(first.status == RunResult::Status::Stopped);
  const int embedded_first = counters().embedded;
  CHECK(embedded_first >= 40);
  CHECK(embedded_first < n);
  // Nothing final yet: the finished items are in the journal and the parts.
  CHECK_FALSE(fs::exists(dir.file("job/vectors.npy")));
  REQUIRE(fs::exists(dir.file("job/.embedflow/journal.jsonl")));

  counters().reset();
  job.resumable = false;
  job.resume = true;
  RunResult second =
      jobs::run_job(load(reg, dir.file("in.txt"), dir.file("job")), job, run_options());
  INFO(second.message);
  REQUIRE(second.status == RunResult::Status::Ok);
  // A stop drains what is in flight, but only whole parts are journaled: the part the stop cut
  // short is redone whole, so that its batches are an uninterrupted run's. The resumed run does
  // the rest, plus at most that part's items the first run had already embedded.
  const int part = static_cast<int>(job.part_size);
  const int kept = n - counters().embedded;  // items the first run completed for good
  CHECK(kept % part == 0);
  CHECK(kept <= embedded_first);
  CHECK(embedded_first - kept < part);
  CHECK(second.items == static_cast<uint64_t>(n));
  check_outputs(dir.file("job"), n);
  CHECK_FALSE(fs::exists(dir.file("job/.embedflow")));
}

TEST_CASE("jobs: three shards merged equal one ordinary run") {
  TempDir dir("jobs-shards");
  const int n = 120;
  write_lines(dir.file("in.txt"), n);
  Registry reg = job_registry();

  counters().reset();
  RunResult plain = run_pipeline(load(reg, dir.file("in.txt"), dir.file("plain")), run_options());
  REQUIRE(plain.status == RunResult::Status::Ok);

  uint64_t items = 0;
  int embedded = 0;
  for (int i = 0; i < 3; ++i) {
    counters().reset();
    jobs::JobOptions job;
    job.shard = jobs::ShardSpec{i, 3};
    job.part_size = 8;
    RunResult r = jobs::run_job(load(reg, dir.file("in.txt"), dir.file("job")), job, run_options());
    INFO("shard " << i << ": " << r.message);
    REQUIRE(r.status == RunResult::Status::Ok);
    items += r.items;
    embedded += counters().embedded;
    // Each shard took its own items: neither none nor all of them.
    CHECK(r.items > 0);
    CHECK(r.items < static_cast<uint64_t>(n));
  }
  CHECK(items == static_cast<uint64_t>(n));
  CHECK(embedded == n);
  CHECK_FALSE(fs::exists(dir.file("job/vectors.npy")));

  std::ostringstream report;
  int code = jobs::merge_shards(dir.file("job"), reg, report);
  INFO(report.str());
  REQUIRE(code == 0);
  require_same_bytes(dir.file("plain"), dir.file("job"));
  check_outputs(dir.file("job"), n);
}

TEST_CASE("jobs: merge names the shards that did not finish") {
  TempDir dir("jobs-missing");
  write_lines(dir.file("in.txt"), 30);
  Registry reg = job_registry();
  counters().reset();
  jobs::JobOptions job;
  job.shard = jobs::ShardSpec{1, 3};
  RunResult r = jobs::run_job(load(reg, dir.file("in.txt"), dir.file("job")), job, run_options());
  REQUIRE(r.status == RunResult::Status::Ok);
  std::ostringstream report;
  CHECK(jobs::merge_shards(dir.file("job"), reg, report) == 1);
  CHECK_THAT(report.str(), Catch::Contains("missing shards (no folder): 0, 2 of 3"));
  CHECK_FALSE(fs::exists(dir.file("job/vectors.npy")));
}
