// Stage types used only by the engine tests: they observe what the executor does (order,
// concurrency, batch sizes, live items) without depending on any real stage.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "embedflow/registry.h"

namespace embedflow::test {

struct Observed {
  std::mutex mu;
  std::vector<std::string> written_ids;
  std::vector<std::string> written_text;
  std::vector<size_t> batch_sizes;
  std::atomic<int> live_payloads{0};
  std::atomic<int> max_live_payloads{0};
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> model_threads{0};  // what test.model was given to use per call
  bool finished = false;
  bool finished_complete = false;
  std::vector<std::pair<size_t, std::string>> reduced;  // (port, id)

  void reset() {
    std::lock_guard<std::mutex> lock(mu);
    written_ids.clear();
    written_text.clear();
    batch_sizes.clear();
    reduced.clear();
    live_payloads = 0;
    max_live_payloads = 0;
    running = 0;
    max_running = 0;
    model_threads = 0;
    finished = finished_complete = false;
  }
};
Observed& observed();

// test.source: `count` text items "item-<i>", each with a 1 KiB payload whose lifetime is
// counted in observed().live_payloads.
class CountingSource : public SourceStage {
 public:
  explicit CountingSource(const Params& p)
      : count_(p.get_int("count")), label_(p.get_string("label")) {}
  bool next(Item& item) override;
  std::optional<uint64_t> size_hint() const override { return static_cast<uint64_t>(count_); }

 private:
  int64_t count_;
  std::string label_;
  int64_t i_ = 0;
};

// test.work: appends "!" to the text after a random delay; fails when index % fail_every == 0.
class WorkStage : public ItemStage {
 public:
  explicit WorkStage(const Params& p)
      : max_us_(p.get_int("max_delay_us")), fail_every_(p.get_int("fail_every")) {}
  void process(const Item& in, Item& out) override;

 private:
  int64_t max_us_, fail_every_;
};

// test.batch: records batch sizes; output text = input text + "#".
class RecordingBatch : public BatchStage {
 public:
  explicit RecordingBatch(const Params&) {}
  void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) override;
};

// test.model: a batch stage that takes a share of the run's threads, as the encoders do; it
// records the intra-op threads its open() was given, and how many of its calls overlap (each
// takes a few milliseconds).
class ModelLikeBatch : public BatchStage {
 public:
  explicit ModelLikeBatch(const Params&) {}
  void open(const StageContext& ctx) override { observed().model_threads = ctx.threads; }
  void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) override;
};

// test.collect: records what it is given, in order.
class CollectSink : public SinkStage {
 public:
  explicit CollectSink(const Params&) {}
  void write(const Item& item) override;
  void finish(bool complete) override;
};

// test.pair: a reducer over two streams that emits "<a>+<b>" pairs by position.
class PairReducer : public ReduceStage {
 public:
  explicit PairReducer(const Params&) {}
  void consume(size_t port, const Item& item) override;
  bool next(Item& item) override;

 private:
  std::vector<std::string> a_, b_;
  size_t i_ = 0;
};

// Registers the test.* stages plus a test.params stage whose schema exercises every param type.
void register_test_stages(Registry& reg);

}  // namespace embedflow::test
