// The executor: source order at the writers under concurrency, the in-flight bound, batching,
// error policies, fan-out / fan-in, and stopping.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include "embedflow/config.h"
#include "embedflow/executor.h"
// The engine's private packet and ticket: the order in which a dying packet releases its parts.
#include "pipelines/src/executor_run.h"
#include "tests/core/test_stages.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using embedflow::test::observed;
using embedflow::test::read_lines;

namespace {

Registry& registry() {
  static Registry reg = [] {
    Registry r;
    test::register_test_stages(r);
    return r;
  }();
  return reg;
}

RunResult run_yaml(const std::string& yaml, const RunOptions& opts = {}) {
  observed().reset();
  PipelineConfig cfg = load_pipeline_string(yaml, "p.yaml", registry());
  return run_pipeline(cfg, opts);
}

std::vector<std::string> expected_ids(int n, int fail_every = 0) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i)
    if (!(fail_every > 0 && i % fail_every == 0)) ids.push_back(std::to_string(i));
  return ids;
}

// test.source → test.work (`work`: its concurrency and params lines) → test.batch → test.collect.
std::string batch_pipeline(const test::TempDir& dir, int count, const std::string& work,
                           int batch_size) {
  return "errors: " + dir.file("errors.jsonl") + "\nstages:\n" +
         "  - { id: src, type: test.source, params: { count: " + std::to_string(count) + " } }\n" +
         "  - id: work\n    type: test.work\n    " + work + "\n" +
         "  - { id: batch, type: test.batch, params: { batch_size: " + std::to_string(batch_size) +
         " } }\n" + "  - { id: out, type: test.collect }\n";
}

}  // namespace

TEST_CASE("writers receive items in source order under concurrency 8 with random delays") {
  test::TempDir dir;
  auto result = run_yaml(R"(
threads: 4
errors: )" + dir.file("errors.jsonl") +
                         R"(
stages:
  - id: src
    type: test.source
    params: { count: 400 }
  - id: work
    type: test.work
    concurrency: 8
    params: { max_delay_us: 3000 }
  - id: out
    type: test.collect
)");
  REQUIRE(result.status == RunResult::Status::Ok);
  CHECK(observed().max_running.load() > 1);  // the delays really overlapped
  REQUIRE(observed().written_ids == expected_ids(400));
  for (size_t i = 0; i < 400; ++i)
    CHECK(observed().written_text[i] == "item-" + std::to_string(i) + "!");
  CHECK(observed().finished_complete);
  CHECK(result.items == 400);
}

TEST_CASE("the number of items alive at once stays within max_in_flight") {
  test::TempDir dir;
  for (int bound : {4, 16, 64}) {
    auto result = run_yaml(R"(
threads: 4
max_in_flight: )" + std::to_string(bound) +
                           R"(
errors: )" + dir.file("errors.jsonl") +
                           R"(
stages:
  - id: src
    type: test.source
    params: { count: 3000 }
  - id: work
    type: test.work
    concurrency: unlimited
    params: { max_delay_us: 200 }
  - id: out
    type: test.collect
)");
    REQUIRE(result.status == RunResult::Status::Ok);
    REQUIRE(observed().written_ids.size() == 3000);
    // Payloads are counted by the source's own deleter, independently of the engine's tickets.
    // One more may exist: the item the source produced that waits for a free token.
    INFO("bound " << bound << ", max live " << observed().max_live_payloads.load());
    CHECK(observed().max_live_payloads.load() <= bound + 1);
    CHECK(observed().max_live_payloads.load() >= std::min(bound, 4));
    CHECK(observed().live_payloads.load() == 0);
  }
}

// Found by the ASan build (whose slowness widened the window): the last copy of a packet gave
// its token back before freeing its items, so while the next source item was made the previous
// one's payload was still alive, and the test above saw max_in_flight + 2 payloads.
TEST_CASE("a dying packet frees its items before its ticket gives the token back") {
  detail::TokenPool pool;
  pool.active = false;  // no limiter to return the token to: only the order is observed
  std::atomic<uint64_t> completed{0};
  pool.completed = &completed;
  int64_t in_flight_when_freed = -1;
  {
    detail::Packet packet;
    packet.ticket = std::make_shared<detail::Ticket>(&pool, true);
    auto item = std::make_shared<Item>();
    void* mem = ::operator new(16);
    std::shared_ptr<void> owner(mem, [&](void* p) {
      in_flight_when_freed = pool.in_flight.load();
      ::operator delete(p);
    });
    item->tensor = Tensor(DType::U8, {16}, owner, mem);
    owner.reset();
    packet.items = std::make_shared<const std::vector<ItemPtr>>(std::vector<ItemPtr>{item});
    item.reset();
    REQUIRE(pool.in_flight == 1);
  }
  CHECK(in_flight_when_freed == 1);  // freed while the packet still held its token
  CHECK(pool.in_flight == 0);
  CHECK(completed == 1);
}

TEST_CASE("batch stages get full batches in order and a short last one, never padded") {
  // 10 005 items: a plain run is one batch group, whatever its length.
  for (int count : {23, 10005}) {
    INFO(count << " items");
    test::TempDir dir;
    auto result = run_yaml(batch_pipeline(
        dir, count, "concurrency: 4\n    params: { max_delay_us: 500 }", /*batch_size=*/7));
    REQUIRE(result.status == RunResult::Status::Ok);
    std::vector<size_t> batches(static_cast<size_t>(count / 7), 7);
    if (count % 7) batches.push_back(static_cast<size_t>(count % 7));
    CHECK(observed().batch_sizes == batches);
    REQUIRE(observed().written_ids == expected_ids(count));
    CHECK(observed().written_text.back() == "item-" + std::to_string(count - 1) + "!#");
    CHECK(result.stages[2].mean_batch() == Approx(double(count) / double(batches.size())));
  }
}

TEST_CASE("on_error skip: failed items go to errors.jsonl, every good item is written") {
  test::TempDir dir;
  auto result = run_yaml(R"(
errors: )" + dir.file("errors.jsonl") +
                         R"(
stages:
  - id: src
    type: test.source
    params: { count: 50 }
  - id: work
    type: test.work
    concurrency: 4
    params: { fail_every: 7, max_delay_us: 300 }
  - id: batch
    type: test.batch
    params: { batch_size: 4 }
  - id: out
    type: test.collect
)");
  REQUIRE(result.status == RunResult::Status::Ok);
  CHECK(observed().written_ids == expected_ids(50, 7));
  CHECK(result.errors == 8);  // 0, 7, …, 49
  auto lines = read_lines(dir.file("errors.jsonl"));
  REQUIRE(lines.size() == 8);
  std::set<std::string> failed;
  for (const auto& l : lines) {
    Json j = Json::parse(l);
    CHECK(j["stage"] == "work");
    CHECK_THAT(j["error"].get<std::string>(), Catch::Contains("refusing item"));
    CHECK(j["source"] == "counter");
    failed.insert(j["id"].get<std::string>());
  }
  CHECK(failed == std::set<std::string>{"0", "7", "14", "21", "28", "35", "42", "49"});
}

TEST_CASE("on_error fail stops the run cleanly and keeps what was written") {
  test::TempDir dir;
  auto result = run_yaml(R"(
errors: )" + dir.file("errors.jsonl") +
                         R"(
stages:
  - id: src
    type: test.source
    params: { count: 100000 }
  - id: work
    type: test.work
    on_error: fail
    concurrency: serial
    params: { fail_every: 0 }
  - id: fails
    type: test.work
    on_error: fail
    input: work
    params: { fail_every: 1000 }
  - id: out
    type: test.collect
    input: fails
)");
  // Item 0 fails at once; the run stops without processing the whole source.
  REQUIRE(result.status == RunResult::Status::Failed);
  CHECK_THAT(result.message, Catch::Contains("stage 'fails' failed on item '0'"));
  CHECK(observed().written_ids.size() < 100000);
  CHECK(observed().finished);
  CHECK_FALSE(observed().finished_complete);
  // What was written is a prefix of the good items, in order.
  auto expected = expected_ids(static_cast<int>(observed().written_ids.size()) + 1, 1000);
  expected.resize(observed().written_ids.size());
  CHECK(observed().written_ids == expected);
}

TEST_CASE("fan-out feeds two writers, fan-in pairs two streams through a reducer") {
  test::TempDir dir;
  auto result = run_yaml(R"(
errors: )" + dir.file("errors.jsonl") +
                         R"(
stages:
  - id: a
    type: test.source
    params: { count: 30 }
  - id: b
    type: test.source
    params: { count: 20 }
  - id: work
    type: test.work
    input: a
    concurrency: 4
    params: { max_delay_us: 300 }
  - id: pair
    type: test.pair
    inputs: [work, b]
  - id: out
    type: test.collect
    input: pair
)");
  REQUIRE(result.status == RunResult::Status::Ok);
  REQUIRE(observed().written_text.size() == 20);
  CHECK(observed().written_text[0] == "item-0!+item-0");
  CHECK(observed().written_text[19] == "item-19!+item-19");
  // Each port saw its stream in source order.
  std::vector<std::string> port0, port1;
  for (auto& [port, id] : observed().reduced) (port == 0 ? port0 : port1).push_back(id);
  CHECK(port0 == expected_ids(30));
  CHECK(port1 == expected_ids(20));

  auto fan = run_yaml(R"(
errors: )" + dir.file("errors.jsonl") +
                      R"(
stages:
  - id: src
    type: test.source
    params: { count: 40 }
  - id: w1
    type: test.work
    input: src
  - id: out1
    type: test.collect
    input: w1
  - id: out2
    type: test.collect
    input: src
)");
  REQUIRE(fan.status == RunResult::Status::Ok);
  CHECK(observed().written_ids.size() == 80);  // both writers got every item
  CHECK(fan.items == 40);                      // but each source item completed once
}

TEST_CASE("a stop request drains in-flight items and finishes writers as incomplete") {
  test::TempDir dir;
  std::atomic<bool> stop{false};
  RunOptions opts;
  opts.stop = &stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    stop = true;
  });
  auto result = run_yaml(R"(
threads: 2
errors: )" + dir.file("errors.jsonl") +
                             R"(
stages:
  - id: src
    type: test.source
    params: { count: 1000000 }
  - id: work
    type: test.work
    params: { max_delay_us: 200 }
  - id: out
    type: test.collect
)",
                         opts);
  stopper.join();
  CHECK(result.status == RunResult::Status::Stopped);
  size_t n = observed().written_ids.size();
  CHECK(n > 0);
  CHECK(n < 1000000);
  CHECK(observed().written_ids == expected_ids(static_cast<int>(n)));  // a gap-free prefix
  CHECK(observed().finished);
  CHECK_FALSE(observed().finished_complete);
  CHECK(observed().live_payloads.load() == 0);
}

namespace {

// What a layer above the engine (jobs/) does through RunOptions::wrap_stage: passes over every
// item whose position is 2 mod 3 (as if an earlier run had done it), keeps the positions of the
// others, and gives each run of ten positions its own batch group.
class PassingOverSource : public SourceStage {
 public:
  PassingOverSource(std::unique_ptr<Stage> inner, std::atomic<uint64_t>& passed_over)
      : inner_(std::move(inner)), passed_over_(passed_over) {}
  void open(const StageContext& ctx) override { inner_->open(ctx); }
  bool next(Item& item) override {
    for (;;) {
      item = Item();
      if (!dynamic_cast<SourceStage&>(*inner_).next(item)) return false;
      item.index = position_++;
      if (item.index % 3 != 2) break;
      ++passed_over_;
    }
    item.batch_group = item.index / 10;
    return true;
  }

 private:
  std::unique_ptr<Stage> inner_;
  std::atomic<uint64_t>& passed_over_;
  uint64_t position_ = 0;
};

}  // namespace

TEST_CASE("a layer above wraps stages: kept positions, batch groups, items done before") {
  test::TempDir dir;
  std::atomic<uint64_t> passed_over{0};
  std::vector<std::string> wrapped;
  RunOptions opts;
  opts.wrap_stage = [&](const StageConfig& sc, std::unique_ptr<Stage> stage) {
    wrapped.push_back(sc.id);
    if (sc.stage_type->schema.kind != StageKind::Source) return stage;
    return std::unique_ptr<Stage>(new PassingOverSource(std::move(stage), passed_over));
  };
  opts.items_done_before = &passed_over;
  opts.errors_path = dir.file("elsewhere/errors.jsonl");
  opts.append_errors = true;
  test::write_file(opts.errors_path, "{\"from\": \"an earlier run\"}\n");
  auto result = run_yaml(batch_pipeline(dir, 30, "params: { fail_every: 7 }", 4), opts);
  REQUIRE(result.status == RunResult::Status::Ok);
  CHECK(wrapped == std::vector<std::string>{"src", "work", "batch", "out"});
  // Positions 0, 7, 21 and 28 fail (14 was passed over): the items kept their positions.
  std::vector<std::string> good;
  for (int i : {1, 3, 4, 6, 9, 10, 12, 13, 15, 16, 18, 19, 22, 24, 25, 27})
    good.push_back(std::to_string(i));
  CHECK(observed().written_ids == good);
  // Groups 0-9, 10-19, 20-29 are batched apart: 5 good items, then 7, then 4.
  CHECK(observed().batch_sizes == std::vector<size_t>{4, 1, 4, 3, 4});
  CHECK(result.items == 30);  // 20 completed here, 10 before
  CHECK(result.errors == 4);
  CHECK(result.errors_file == opts.errors_path);
  CHECK(test::read_lines(opts.errors_path).size() == 5);  // appended to the earlier run's
  CHECK_FALSE(std::ifstream(dir.file("errors.jsonl")).good());
}

namespace {

// test.source (200 items) → test.model (`model`: its extra lines) → test.collect, on 4 threads.
RunResult run_model_pipeline(const test::TempDir& dir, const std::string& model) {
  return run_yaml("threads: 4\nerrors: " + dir.file("errors.jsonl") +
                  "\nstages:\n"
                  "  - { id: src, type: test.source, params: { count: 200 } }\n"
                  "  - id: model\n    type: test.model\n" +
                  model + "  - { id: out, type: test.collect }\n");
}

const StageStats& stats_of(const RunResult& r, const std::string& id) {
  for (const auto& s : r.stages)
    if (s.id == id) return s;
  throw std::runtime_error("no stats for " + id);
}

}  // namespace

TEST_CASE("thread plan: a model stage runs one single-threaded batch per thread by default") {
  test::TempDir dir;
  const RunResult r = run_model_pipeline(dir, "");
  REQUIRE(r.status == RunResult::Status::Ok);
  CHECK(observed().model_threads == 1);
  CHECK(observed().max_running.load() > 1);
  CHECK(observed().max_running.load() <= 4);
  CHECK(stats_of(r, "model").concurrency == 4);
  CHECK(stats_of(r, "model").threads == 1);
  CHECK(observed().written_ids == expected_ids(200));  // still in source order
}

TEST_CASE("thread plan: concurrency 1 gives one batch at a time every thread") {
  test::TempDir dir;
  const RunResult r = run_model_pipeline(dir, "    concurrency: 1\n");
  REQUIRE(r.status == RunResult::Status::Ok);
  CHECK(observed().model_threads == 4);
  CHECK(observed().max_running.load() == 1);
  CHECK(stats_of(r, "model").concurrency == 1);
  CHECK(stats_of(r, "model").threads == 4);
}

TEST_CASE("thread plan: a model's threads param sets how many calls share the threads") {
  test::TempDir dir;
  const RunResult r = run_model_pipeline(dir, "    params: { threads: 2 }\n");
  REQUIRE(r.status == RunResult::Status::Ok);
  CHECK(observed().model_threads == 2);
  CHECK(observed().max_running.load() <= 2);
  CHECK(stats_of(r, "model").concurrency == 2);
  CHECK(observed().written_ids == expected_ids(200));
}
