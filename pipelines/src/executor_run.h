// One execution of a pipeline (executor.h): the flow-graph messages and the Run that builds and
// drives the graph. Private to the engine; executor.cpp builds and runs the phases,
// executor_nodes.cpp builds the nodes of each stage kind.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <oneapi/tbb/flow_graph.h>

#include "embedflow/executor.h"
#include "embedflow/output_lock.h"
#include "error_log.h"

namespace embedflow::detail {

namespace flow = tbb::flow;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// In-flight tokens. A packet carries a shared Ticket; when its last copy dies (written by every
// writer, absorbed by a reducer, or dropped), the token goes back to the source's limiter.

struct Packet;

struct TokenPool {
  flow::limiter_node<Packet>* limiter = nullptr;
  std::atomic<bool> active{true};
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> peak{0};
  std::atomic<uint64_t>* completed = nullptr;  // source items fully done (run-wide)
};

struct Ticket {
  TokenPool* pool;
  bool counts_as_item;
  Ticket(TokenPool* p, bool item) : pool(p), counts_as_item(item) {
    int64_t now = ++pool->in_flight;
    int64_t peak = pool->peak.load();
    while (now > peak && !pool->peak.compare_exchange_weak(peak, now)) {
    }
  }
  ~Ticket() {
    --pool->in_flight;
    if (counts_as_item && pool->completed) ++*pool->completed;
    if (pool->active.load()) pool->limiter->decrementer().try_put(flow::continue_msg());
  }
};

struct Packet {
  // Declared before `items`, so destroyed after them: the last copy of a packet frees its items
  // before the token goes back and the source may make another (max_in_flight bounds live items).
  std::shared_ptr<Ticket> ticket;
  uint64_t seq = 0;
  uint64_t batch_group = 0;  // of the source item (Item::batch_group)
  bool eos = false;
  std::shared_ptr<const std::vector<ItemPtr>> items;
};

struct BatchMsg {
  std::vector<Packet> packets;  // consecutive packets; the last one may be the EOS
};

// ---------------------------------------------------------------------------------------------

struct StageRuntime {
  const StageConfig* cfg = nullptr;
  std::unique_ptr<Stage> stage;
  StageContext ctx;
  int concurrency = 1;  // of the stage's node: the config's, or the thread plan's for a model
  int phase = 0;
  std::string description;  // Stage::description() once open
  std::atomic<uint64_t> items{0}, errors{0}, calls{0}, batch_items{0};
  std::atomic<int64_t> busy_ns{0};
  std::mutex mu;  // serialises reducers fed by several ports
  std::vector<bool> port_done;
  bool finished = false;  // sink finish() called

  void add_busy(Clock::time_point t0) {
    busy_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  }
};

class Run {
 public:
  Run(const PipelineConfig& cfg, const RunOptions& opts) : cfg_(cfg), opts_(opts) {}

  RunResult execute();

 private:
  void build_stages();
  void announce_row_shapes();
  std::unique_ptr<embedflow::OutputLock> lock_;  // held from the start to the end of execute()
  void run_phase(int phase);
  void finish_sinks(RunResult& result);
  void close_stages();
  Item make_error(const Item& in, const StageRuntime& rt, const std::string& message);
  void fail(const std::string& message);
  bool stopping() const { return internal_stop_.load() || (opts_.stop && opts_.stop->load()); }
  bool hard_cancelled() const { return opts_.hard_cancel && opts_.hard_cancel->load(); }
  uint64_t items_completed() const {
    return completed_.load() + (opts_.items_done_before ? opts_.items_done_before->load() : 0);
  }

  // Node builders for one phase (executor_nodes.cpp); each returns the sender that carries the
  // stage's output.
  flow::sender<Packet>* add_source(flow::graph& g, StageRuntime& rt, bool reducer_output);
  flow::sender<Packet>* add_map(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in);
  flow::sender<Packet>* add_batch(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in);
  void add_sink(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in);
  // A sequencer (source order) feeding a serial consumer: writers and reducer ports.
  void add_ordered_consumer(flow::graph& g, flow::sender<Packet>* in,
                            std::function<flow::continue_msg(const Packet&)> body);
  void add_reduce_port(flow::graph& g, StageRuntime& rt, size_t port, flow::sender<Packet>* in);
  // Hands every good item of `p` to `consume` (a writer's or a reducer port's), turning what it
  // throws into that item's error record, or a failed run for RunFailure.
  void consume_items(StageRuntime& rt, const Packet& p,
                     const std::function<void(const Item&)>& consume);

  Packet derive_packet(const Packet& in, std::vector<ItemPtr> items) const {
    Packet p;
    p.seq = in.seq;
    p.batch_group = in.batch_group;
    p.ticket = in.ticket;
    p.items = std::make_shared<const std::vector<ItemPtr>>(std::move(items));
    return p;
  }
  void finish_item(StageRuntime& rt, Item& out, const Item& in);

  const PipelineConfig& cfg_;
  const RunOptions& opts_;
  std::vector<std::unique_ptr<StageRuntime>> stages_;
  std::map<std::string, StageRuntime*> by_id_;
  std::unique_ptr<ErrorLog> errors_;
  std::atomic<bool> internal_stop_{false};
  std::mutex fail_mu_;
  std::string fail_message_;
  std::atomic<uint64_t> completed_{0};  // source items this run completed
  std::atomic<uint64_t> total_hint_{0};
  std::atomic<int64_t> peak_in_flight_{0};
  int threads_ = 1;
  int max_in_flight_ = 256;
  std::vector<std::unique_ptr<flow::graph_node>> nodes_;
  std::vector<std::unique_ptr<TokenPool>> pools_;
  std::vector<flow::input_node<Packet>*> inputs_;
};

}  // namespace embedflow::detail
