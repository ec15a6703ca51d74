#include "embedflow/executor.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include "embedflow/batch_job.h"
#include "embedflow/job_journal.h"
#include "embedflow/progress.h"
#include "embedflow/spool.h"

namespace fs = std::filesystem;
namespace flow = tbb::flow;

namespace embedflow {

namespace {

using Clock = std::chrono::steady_clock;

size_t concurrency_of(const StageConfig& sc) {
  return sc.concurrency == 0 ? size_t(flow::unlimited) : static_cast<size_t>(sc.concurrency);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

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
  uint64_t seq = 0;
  uint64_t origin = 0;  // source position of the source item this packet derives from
  bool eos = false;
  std::shared_ptr<const std::vector<ItemPtr>> items;
  std::shared_ptr<Ticket> ticket;
};

struct BatchMsg {
  std::vector<Packet> packets;  // consecutive packets; the last one may be the EOS
};

// ---------------------------------------------------------------------------------------------

class ErrorLog {
 public:
  ErrorLog(std::string path, bool keep_existing) : path_(std::move(path)) {
    std::error_code ec;
    // A stale file from an earlier run would mislead; a resumed run adds to its own.
    if (!keep_existing) fs::remove(path_, ec);
  }
  ~ErrorLog() {
    if (file_) std::fclose(file_);
  }
  void log(const Item& item, const std::string& stage, const std::string& message) {
    Json j = {{"id", item.id},
              {"source", item.source},
              {"index", item.index},
              {"stage", stage},
              {"error", message}};
    std::string line = j.dump() + "\n";
    std::lock_guard<std::mutex> lock(mu_);
    if (!file_) {
      fs::path p(path_);
      if (p.has_parent_path()) fs::create_directories(p.parent_path());
      file_ = std::fopen(path_.c_str(), "a");
      if (!file_) return;  // nowhere to log; the count still reports it
    }
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);  // flushed per record: a crash keeps what was logged
    ++count_;
  }
  uint64_t count() const { return count_.load(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  std::atomic<uint64_t> count_{0};
};

struct StageRuntime {
  const StageConfig* cfg = nullptr;
  std::unique_ptr<Stage> stage;
  StageContext ctx;
  int phase = 0;
  std::atomic<uint64_t> items{0}, errors{0}, calls{0}, batch_items{0};
  std::atomic<int64_t> busy_ns{0};
  std::mutex mu;  // serialises reducers fed by several ports, and batchers
  std::vector<bool> port_done;
  bool finished = false;  // sink finish() called
  // Spooling sinks (shards, resumable runs): the open part file and its part number.
  size_t sink_index = 0;
  std::unique_ptr<SpoolWriter> spool;
  int64_t spool_part = -1;

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
  void run_phase(int phase);
  Item make_error(const Item& in, const StageRuntime& rt, const std::string& message);
  void fail(const std::string& message);
  bool stopping() const { return internal_stop_.load() || (opts_.stop && opts_.stop->load()); }
  bool hard_cancelled() const { return opts_.hard_cancel && opts_.hard_cancel->load(); }

  // Node builders for one phase; each returns the sender that carries the stage's output.
  flow::sender<Packet>* add_source(flow::graph& g, StageRuntime& rt, bool reducer_output);
  flow::sender<Packet>* add_map(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in);
  flow::sender<Packet>* add_batch(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in);
  void add_sink(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in);
  // A sequencer (source order) feeding a serial consumer: writers and reducer ports.
  void add_ordered_consumer(flow::graph& g, flow::sender<Packet>* in,
                            std::function<flow::continue_msg(const Packet&)> body);
  void add_reduce_port(flow::graph& g, StageRuntime& rt, size_t port, flow::sender<Packet>* in);

  Packet derive_packet(const Packet& in, std::vector<ItemPtr> items) const {
    Packet p;
    p.seq = in.seq;
    p.origin = in.origin;
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
  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> total_hint_{0};
  std::atomic<int64_t> peak_in_flight_{0};
  int threads_ = 1;
  int max_in_flight_ = 256;
  std::vector<std::unique_ptr<flow::graph_node>> nodes_;
  std::vector<std::unique_ptr<TokenPool>> pools_;
  std::vector<flow::input_node<Packet>*> inputs_;
  // Shards and resumable runs.
  bool spooling_ = false;
  uint64_t part_size_ = 10000;  // source items per part (journal unit, batch boundary)
  std::string job_dir_;
  std::unique_ptr<JobJournal> journal_;
  std::atomic<uint64_t> skipped_{0};
  void commit_spool(StageRuntime& rt, int64_t through_part);
};

void Run::fail(const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(fail_mu_);
    if (fail_message_.empty()) fail_message_ = message;
  }
  internal_stop_ = true;
}

Item Run::make_error(const Item& in, const StageRuntime& rt, const std::string& message) {
  Item e = in.derive();
  e.kind = in.kind;
  e.error = std::make_shared<ItemError>(ItemError{rt.cfg->id, message});
  return e;
}

// Bookkeeping shared by item, group and batch stages for one output item.
void Run::finish_item(StageRuntime& rt, Item& out, const Item& in) {
  if (out.failed()) {
    if (out.error->stage.empty())
      out.error = std::make_shared<ItemError>(ItemError{rt.cfg->id, out.error->message});
    ++rt.errors;
    errors_->log(out, out.error->stage, out.error->message);
    if (rt.cfg->on_error == OnError::Fail)
      fail("stage '" + rt.cfg->id + "' failed on item '" + in.id + "': " + out.error->message +
           " (on_error: fail)");
    return;
  }
  ++rt.items;
  if (out.kind == Kind::None) out.kind = rt.cfg->output;
}

void Run::build_stages() {
  std::string out_dir = run_output_dir(cfg_);
  std::string errors_path =
      cfg_.errors_path.empty() ? (fs::path(out_dir) / "errors.jsonl").string() : cfg_.errors_path;
  const JobOptions& job = opts_.job;
  spooling_ = job.spooling();
  if (job.part_size) part_size_ = job.part_size;
  if (spooling_) {
    for (const auto& sc : cfg_.stages)
      if (sc.stage_type->schema.kind == StageKind::Reduce)
        throw std::runtime_error(
            "stage '" + sc.id + "' (" + sc.type +
            ") needs every item at once, so it cannot run inside a shard or a resumable run: "
            "run it as a second job over the merged outputs (docs/scale.md)");
    job_dir_ = job_dir(cfg_, job.shard);
    if (job.shard.active()) errors_path = (fs::path(job_dir_) / "errors.jsonl").string();
  }
  errors_ = std::make_unique<ErrorLog>(errors_path, spooling_ && job.resume);

  threads_ = opts_.threads > 0 ? opts_.threads : cfg_.threads;
  if (threads_ <= 0) threads_ = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  int model_stages = 0, max_batch = 1;
  for (const auto& sc : cfg_.stages) {
    const StageSchema& s = sc.stage_type->schema;
    if (s.uses_model_threads) ++model_stages;
    if (s.kind == StageKind::Batch)
      max_batch = std::max<int>(max_batch, sc.params.get_int("batch_size"));
  }
  // A batch holds its items' tokens until it is full, so the bound must leave room for it.
  max_in_flight_ = cfg_.max_in_flight > 0 ? cfg_.max_in_flight : std::max(256, 4 * max_batch);
  max_in_flight_ = std::max(max_in_flight_, max_batch + 1);

  for (const auto& sc : cfg_.stages) {
    auto rt = std::make_unique<StageRuntime>();
    rt->cfg = &sc;
    rt->ctx.stage_id = sc.id;
    rt->ctx.pipeline_file = cfg_.file;
    rt->ctx.output_dir = out_dir;
    rt->ctx.concurrency = sc.concurrency;
    rt->ctx.cancelled = opts_.hard_cancel;
    const StageSchema& s = sc.stage_type->schema;
    if (s.uses_model_threads) {
      int64_t t = sc.params.has("threads") ? sc.params.get_int("threads") : 0;
      rt->ctx.threads =
          t > 0 ? static_cast<int>(t) : std::max(1, threads_ / std::max(1, model_stages));
    } else {
      rt->ctx.threads = 1;
    }
    rt->port_done.assign(sc.inputs.size(), false);
    by_id_[sc.id] = rt.get();
    stages_.push_back(std::move(rt));
  }
  // Phases: a stage runs in the phase of its inputs; the output of a reducer starts a new one.
  bool changed = true;
  while (changed) {
    changed = false;
    for (auto& rt : stages_) {
      int ph = 0;
      for (const auto& up : rt->cfg->inputs) {
        StageRuntime* u = by_id_.at(up);
        ph =
            std::max(ph, u->phase + (u->cfg->stage_type->schema.kind == StageKind::Reduce ? 1 : 0));
      }
      if (ph != rt->phase) {
        rt->phase = ph;
        changed = true;
      }
    }
  }
  // Construct and open every stage before any item flows: a model that fails to load stops the
  // run before work is done.
  size_t sinks = 0;
  for (auto& rt : stages_)
    if (rt->cfg->stage_type->schema.kind == StageKind::Sink) rt->sink_index = sinks++;
  // The journal first: a run that may not start (an earlier journal in the way) stops before
  // any model is loaded.
  if (spooling_) {
    Json header = {
        {"embedflow", EMBEDFLOW_VERSION},
        {"pipeline", cfg_.name},
        {"config_hash", config_hash(cfg_)},
        {"models", model_hashes(cfg_)},
        {"shard", std::to_string(job.shard.index) + "/" + std::to_string(job.shard.count)}};
    journal_ = std::make_unique<JobJournal>(job_dir_, header, job, sinks);
    part_size_ = journal_->part_size();  // a resumed run keeps the parts it started with
  }
  for (auto& rt : stages_) {
    rt->stage = rt->cfg->stage_type->factory(rt->cfg->params);
    // Spooling: the real writers only run at assembly/merge time; constructing them here still
    // validated their parameters.
    bool sink = rt->cfg->stage_type->schema.kind == StageKind::Sink;
    if (!(spooling_ && sink)) rt->stage->open(rt->ctx);
  }
}

void Run::commit_spool(StageRuntime& rt, int64_t through_part) {
  if (rt.spool) {
    rt.spool->commit();
    rt.spool.reset();
  }
  journal_->sink_committed_through(rt.sink_index, through_part);
}

flow::sender<Packet>* Run::add_source(flow::graph& g, StageRuntime& rt, bool reducer_output) {
  auto pool = std::make_unique<TokenPool>();
  pool->completed = reducer_output ? nullptr : &completed_;
  TokenPool* pool_ptr = pool.get();
  pools_.push_back(std::move(pool));

  auto* src = dynamic_cast<SourceStage*>(rt.stage.get());
  auto* red = dynamic_cast<ReduceStage*>(rt.stage.get());
  if (!reducer_output && src) {
    if (auto n = src->size_hint()) total_hint_ += *n;
  }
  auto seq = std::make_shared<uint64_t>(0);
  auto position = std::make_shared<uint64_t>(0);  // in the full source, shards and skips included
  auto done = std::make_shared<bool>(false);
  auto body = [this, &rt, src, red, pool_ptr, seq, position, done,
               reducer_output](tbb::flow_control& fc) -> Packet {
    Packet p;
    if (*done || hard_cancelled()) {
      fc.stop();
      return p;
    }
    Item item;
    bool got = false;
    std::string fingerprint;
    auto t0 = Clock::now();
    // Shards and resumed runs pull past the items that are not theirs or already done.
    while (!stopping()) {
      item = Item();
      try {
        got = src ? src->next(item) : red->next(item);
      } catch (const std::exception& e) {
        fail("stage '" + rt.cfg->id + "': " + e.what());
        got = false;
      }
      if (!got) break;
      item.index = (*position)++;
      if (!journal_ || reducer_output) break;
      if (!in_shard(item.id, opts_.job.shard)) continue;
      fingerprint = item_fingerprint(item);
      if (journal_->completed(item.index, fingerprint)) {
        ++skipped_;
        ++completed_;
        continue;
      }
      journal_->add_item(item.index, item.id, fingerprint);
      break;
    }
    rt.add_busy(t0);
    p.seq = (*seq)++;
    if (!got) {
      *done = true;
      p.eos = true;
      p.origin = UINT64_MAX;
      p.ticket = std::make_shared<Ticket>(pool_ptr, false);
      return p;
    }
    p.origin = item.index;
    finish_item(rt, item, item);
    p.ticket = std::make_shared<Ticket>(pool_ptr, !reducer_output);
    p.items = std::make_shared<const std::vector<ItemPtr>>(
        std::vector<ItemPtr>{std::make_shared<const Item>(std::move(item))});
    return p;
  };
  auto input = std::make_unique<flow::input_node<Packet>>(g, body);
  auto limiter =
      std::make_unique<flow::limiter_node<Packet>>(g, static_cast<size_t>(max_in_flight_));
  pool_ptr->limiter = limiter.get();
  flow::make_edge(*input, *limiter);
  inputs_.push_back(input.get());
  flow::sender<Packet>* out = limiter.get();
  nodes_.push_back(std::move(input));
  nodes_.push_back(std::move(limiter));
  return out;
}

flow::sender<Packet>* Run::add_map(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in) {
  size_t conc = concurrency_of(*rt.cfg);
  auto* item_stage = dynamic_cast<ItemStage*>(rt.stage.get());
  auto* group_stage = dynamic_cast<GroupStage*>(rt.stage.get());
  auto body = [this, &rt, item_stage, group_stage](const Packet& in) -> Packet {
    if (in.eos || hard_cancelled()) return in;
    auto t0 = Clock::now();
    std::vector<ItemPtr> out;
    out.reserve(in.items->size());
    if (item_stage) {
      for (const ItemPtr& it : *in.items) {
        if (it->failed()) {
          out.push_back(it);
          continue;
        }
        Item o = it->derive();
        try {
          item_stage->process(*it, o);
        } catch (const RunFailure& e) {
          fail("stage '" + rt.cfg->id + "': " + e.what());
          o = make_error(*it, rt, e.what());
        } catch (const std::exception& e) {
          o = make_error(*it, rt, e.what());
        }
        ++rt.calls;
        ++rt.batch_items;
        finish_item(rt, o, *it);
        out.push_back(std::make_shared<const Item>(std::move(o)));
      }
    } else {
      std::vector<ItemPtr> good;
      for (const ItemPtr& it : *in.items) (it->failed() ? out : good).push_back(it);
      if (!good.empty()) {
        std::vector<Item> produced;
        try {
          group_stage->process(good, produced);
        } catch (const RunFailure& e) {
          fail("stage '" + rt.cfg->id + "': " + e.what());
          produced.clear();
          for (const auto& it : good) produced.push_back(make_error(*it, rt, e.what()));
        } catch (const std::exception& e) {
          produced.clear();
          for (const auto& it : good) produced.push_back(make_error(*it, rt, e.what()));
        }
        ++rt.calls;
        rt.batch_items += good.size();
        for (auto& o : produced) {
          finish_item(rt, o, *good.front());
          out.push_back(std::make_shared<const Item>(std::move(o)));
        }
      }
    }
    rt.add_busy(t0);
    return derive_packet(in, std::move(out));
  };
  auto node = std::make_unique<flow::function_node<Packet, Packet>>(g, conc, body);
  flow::make_edge(*in, *node);
  flow::sender<Packet>* out = node.get();
  nodes_.push_back(std::move(node));
  return out;
}

flow::sender<Packet>* Run::add_batch(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in) {
  using BatcherNode = flow::multifunction_node<Packet, std::tuple<BatchMsg>>;
  using ModelNode = flow::multifunction_node<BatchMsg, std::tuple<Packet>>;
  const size_t batch_size = static_cast<size_t>(rt.cfg->params.get_int("batch_size"));
  auto* stage = dynamic_cast<BatchStage*>(rt.stage.get());

  auto order =
      std::make_unique<flow::sequencer_node<Packet>>(g, [](const Packet& p) { return p.seq; });
  // Forms batches in source order (serial), so batch composition — and with it every float the
  // model computes — is the same from run to run.
  auto pending = std::make_shared<BatchMsg>();
  auto pending_items = std::make_shared<size_t>(0);
  auto batcher = std::make_unique<BatcherNode>(
      g, flow::serial,
      [this, pending, pending_items, batch_size](const Packet& p,
                                                 BatcherNode::output_ports_type& ports) {
        // A batch never crosses a part boundary (every run, resumable or not), so a part that
        // a resumed run redoes forms the very batches of an uninterrupted run — and computes
        // the same floats, bit for bit.
        if (!p.eos && !pending->packets.empty() &&
            pending->packets.front().origin / part_size_ != p.origin / part_size_) {
          std::get<0>(ports).try_put(std::move(*pending));
          *pending = BatchMsg{};
          *pending_items = 0;
        }
        pending->packets.push_back(p);
        if (!p.eos)
          for (const auto& it : *p.items)
            if (!it->failed()) ++*pending_items;
        if (p.eos || *pending_items >= batch_size) {
          std::get<0>(ports).try_put(std::move(*pending));
          *pending = BatchMsg{};
          *pending_items = 0;
        }
      });
  size_t conc = concurrency_of(*rt.cfg);
  auto model = std::make_unique<ModelNode>(
      g, conc,
      [this, &rt, stage, batch_size](const BatchMsg& msg, ModelNode::output_ports_type& ports) {
        std::vector<const Item*> good;
        for (const auto& p : msg.packets)
          if (!p.eos)
            for (const auto& it : *p.items)
              if (!it->failed()) good.push_back(it.get());
        std::map<const Item*, Item> results;
        if (!hard_cancelled()) {
          auto t0 = Clock::now();
          for (size_t start = 0; start < good.size(); start += batch_size) {
            std::vector<const Item*> chunk(
                good.begin() + static_cast<long>(start),
                good.begin() + static_cast<long>(std::min(good.size(), start + batch_size)));
            std::vector<Item> out;
            for (const Item* it : chunk) out.push_back(it->derive());
            try {
              stage->process_batch(chunk, out);
              if (out.size() != chunk.size())
                throw std::logic_error("stage returned " + std::to_string(out.size()) +
                                       " outputs for " + std::to_string(chunk.size()) + " inputs");
              ++rt.calls;
              rt.batch_items += chunk.size();
            } catch (const RunFailure& e) {
              fail("stage '" + rt.cfg->id + "': " + e.what());
              out.clear();
              for (const Item* it : chunk) out.push_back(make_error(*it, rt, e.what()));
            } catch (const std::exception& batch_error) {
              // Isolate the bad item: retry one by one so batch-mates still succeed.
              out.clear();
              for (const Item* it : chunk) {
                std::vector<Item> one{it->derive()};
                try {
                  stage->process_batch({it}, one);
                  ++rt.calls;
                  ++rt.batch_items;
                } catch (const std::exception& e) {
                  one.assign(1, make_error(*it, rt, e.what()));
                }
                out.push_back(std::move(one.at(0)));
              }
            }
            for (size_t i = 0; i < chunk.size(); ++i) {
              finish_item(rt, out[i], *chunk[i]);
              results.emplace(chunk[i], std::move(out[i]));
            }
          }
          rt.add_busy(t0);
        }
        for (const auto& p : msg.packets) {
          if (p.eos) {
            std::get<0>(ports).try_put(p);
            continue;
          }
          std::vector<ItemPtr> items;
          for (const auto& it : *p.items) {
            auto r = results.find(it.get());
            items.push_back(
                r == results.end() ? it : std::make_shared<const Item>(std::move(r->second)));
          }
          std::get<0>(ports).try_put(derive_packet(p, std::move(items)));
        }
      });
  flow::make_edge(*in, *order);
  flow::make_edge(*order, *batcher);
  flow::make_edge(flow::output_port<0>(*batcher), *model);
  flow::sender<Packet>* out = &flow::output_port<0>(*model);
  nodes_.push_back(std::move(order));
  nodes_.push_back(std::move(batcher));
  nodes_.push_back(std::move(model));
  return out;
}

void Run::add_ordered_consumer(flow::graph& g, flow::sender<Packet>* in,
                               std::function<flow::continue_msg(const Packet&)> body) {
  auto order =
      std::make_unique<flow::sequencer_node<Packet>>(g, [](const Packet& p) { return p.seq; });
  auto node = std::make_unique<flow::function_node<Packet, flow::continue_msg>>(g, flow::serial,
                                                                                std::move(body));
  flow::make_edge(*in, *order);
  flow::make_edge(*order, *node);
  nodes_.push_back(std::move(order));
  nodes_.push_back(std::move(node));
}

void Run::add_sink(flow::graph& g, StageRuntime& rt, flow::sender<Packet>* in) {
  auto* sink = dynamic_cast<SinkStage*>(rt.stage.get());
  if (journal_) {
    // Spool what the writer would get into one part file per part of the source.
    add_ordered_consumer(g, in, [this, &rt](const Packet& p) {
      if (rt.finished) return flow::continue_msg();
      auto t0 = Clock::now();
      try {
        if (p.eos) {
          rt.finished = true;
          commit_spool(rt, INT64_MAX);
        } else {
          int64_t part = static_cast<int64_t>(journal_->part_of(p.origin));
          if (part != rt.spool_part) {
            if (rt.spool_part >= 0) commit_spool(rt, part - 1);
            rt.spool_part = part;
            char name[64];
            std::snprintf(name, sizeof name, "part-%05lld-a%d.items", static_cast<long long>(part),
                          journal_->attempt());
            rt.spool = std::make_unique<SpoolWriter>(
                (fs::path(job_dir_) / "parts" / rt.cfg->id / name).string());
          }
          for (const auto& it : *p.items)
            if (!it->failed()) {
              rt.spool->append(*it);
              ++rt.items;
            }
        }
      } catch (const std::exception& e) {
        fail("stage '" + rt.cfg->id + "': " + e.what());
      }
      rt.add_busy(t0);
      return flow::continue_msg();
    });
    return;
  }
  add_ordered_consumer(g, in, [this, &rt, sink](const Packet& p) {
    if (rt.finished) return flow::continue_msg();
    auto t0 = Clock::now();
    if (p.eos) {
      rt.finished = true;
      try {
        sink->finish(!stopping());
      } catch (const std::exception& e) {
        fail("stage '" + rt.cfg->id + "': " + e.what());
      }
    } else {
      for (const auto& it : *p.items) {
        if (it->failed()) continue;
        try {
          sink->write(*it);
          ++rt.items;
        } catch (const RunFailure& e) {
          fail("stage '" + rt.cfg->id + "': " + e.what());
        } catch (const std::exception& e) {
          Item err = make_error(*it, rt, e.what());
          finish_item(rt, err, *it);
        }
      }
    }
    rt.add_busy(t0);
    return flow::continue_msg();
  });
}

void Run::add_reduce_port(flow::graph& g, StageRuntime& rt, size_t port, flow::sender<Packet>* in) {
  auto* red = dynamic_cast<ReduceStage*>(rt.stage.get());
  add_ordered_consumer(g, in, [this, &rt, red, port](const Packet& p) {
    std::lock_guard<std::mutex> lock(rt.mu);
    auto t0 = Clock::now();
    if (p.eos) {
      rt.port_done[port] = true;
      try {
        red->input_done(port);
      } catch (const std::exception& e) {
        fail("stage '" + rt.cfg->id + "': " + e.what());
      }
    } else {
      for (const auto& it : *p.items) {
        if (it->failed()) continue;
        try {
          red->consume(port, *it);
          ++rt.items;
        } catch (const RunFailure& e) {
          fail("stage '" + rt.cfg->id + "': " + e.what());
        } catch (const std::exception& e) {
          Item err = make_error(*it, rt, e.what());
          finish_item(rt, err, *it);
        }
      }
    }
    rt.add_busy(t0);
    return flow::continue_msg();
  });
}

void Run::run_phase(int phase) {
  flow::graph g;
  std::map<std::string, flow::sender<Packet>*> outputs;
  // Stages are in file order, but inputs may name later stages: resolve until all are placed.
  std::vector<StageRuntime*> todo;
  for (auto& rt : stages_) {
    StageKind kind = rt->cfg->stage_type->schema.kind;
    if (kind == StageKind::Reduce && rt->phase + 1 == phase)
      outputs[rt->cfg->id] = add_source(g, *rt, true);
    else if (rt->phase == phase)
      todo.push_back(rt.get());
  }
  while (!todo.empty()) {
    bool progress = false;
    for (auto it = todo.begin(); it != todo.end();) {
      StageRuntime& rt = **it;
      StageKind kind = rt.cfg->stage_type->schema.kind;
      bool ready = true;
      for (const auto& up : rt.cfg->inputs) ready = ready && outputs.count(up);
      if (kind != StageKind::Source && !ready) {
        ++it;
        continue;
      }
      flow::sender<Packet>* in = rt.cfg->inputs.empty() ? nullptr : outputs.at(rt.cfg->inputs[0]);
      switch (kind) {
        case StageKind::Source:
          outputs[rt.cfg->id] = add_source(g, rt, false);
          break;
        case StageKind::Map:
          outputs[rt.cfg->id] = add_map(g, rt, in);
          break;
        case StageKind::Batch:
          outputs[rt.cfg->id] = add_batch(g, rt, in);
          break;
        case StageKind::Sink:
          add_sink(g, rt, in);
          break;
        case StageKind::Reduce:
          for (size_t p = 0; p < rt.cfg->inputs.size(); ++p)
            add_reduce_port(g, rt, p, outputs.at(rt.cfg->inputs[p]));
          break;
      }
      it = todo.erase(it);
      progress = true;
    }
    if (!progress) throw std::logic_error("pipeline graph has unresolvable inputs");
  }
  for (auto* in : inputs_) in->activate();
  // Hard cancellation: a watcher cancels the graph so queued work is dropped.
  std::atomic<bool> phase_done{false};
  std::thread watcher([&] {
    while (!phase_done.load()) {
      if (hard_cancelled()) {
        g.cancel();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  g.wait_for_all();
  phase_done = true;
  watcher.join();
  for (auto& pool : pools_) pool->active = false;
  for (auto& pool : pools_)
    peak_in_flight_ = std::max<int64_t>(peak_in_flight_.load(), pool->peak.load());
  // Packets still buffered in nodes die with them; the pools must outlive that.
  nodes_.clear();
  inputs_.clear();
  pools_.clear();
}

RunResult Run::execute() {
  RunResult result;
  auto t0 = Clock::now();
  build_stages();
  result.open_seconds = seconds_since(t0);
  result.threads = threads_;
  result.max_in_flight = max_in_flight_;
  int max_phase = 0;
  for (auto& rt : stages_) max_phase = std::max(max_phase, rt->phase);

  std::unique_ptr<ProgressReporter> progress;
  if (opts_.progress != ProgressMode::Off) {
    bool tty = ::isatty(2);
    if (opts_.progress == ProgressMode::On || tty)
      progress = std::make_unique<ProgressReporter>(tty, [this] {
        return ProgressSnapshot{completed_.load(), total_hint_.load()};
      });
  }

  // TBB caps workers at the core count unless told otherwise; honour an explicit request.
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism,
                            static_cast<size_t>(std::max(threads_, 1)));
  tbb::task_arena arena(threads_);
  arena.execute([&] {
    // A later phase starts from a reducer's complete input; after a stop it would not be.
    for (int ph = 0; ph <= max_phase && !(ph > 0 && stopping()) && !hard_cancelled(); ++ph)
      run_phase(ph);
  });
  if (progress) progress->stop();

  if (journal_) {
    // Drained (also after a stop): every item the sources registered went through.
    if (!hard_cancelled()) journal_->finish();
    bool complete = fail_message_.empty() && !stopping() && !hard_cancelled();
    if (complete) {
      if (opts_.job.shard.active()) {
        Json manifest = {
            {"shard", opts_.job.shard.index},
            {"num_shards", opts_.job.shard.count},
            {"config_hash", config_hash(cfg_)},
            {"pipeline_file", cfg_.file},
            {"pipeline_yaml", opts_.job.pipeline_yaml},
            {"overrides", opts_.job.overrides},
            {"cwd", fs::current_path().string()},
            {"sinks", sink_manifest(cfg_)},
            {"output_dir", run_output_dir(cfg_)},
            {"errors_path", cfg_.errors_path.empty()
                                ? (fs::path(run_output_dir(cfg_)) / "errors.jsonl").string()
                                : cfg_.errors_path},
            {"items", completed_.load()},
            {"errors", errors_->count()}};
        AtomicFile f((fs::path(job_dir_) / "_SUCCESS.json").string());
        f.write(manifest.dump(2) + "\n");
        f.commit();
      } else {
        result.outputs = assemble_outputs(cfg_, {job_dir_});
        journal_.reset();
        fs::remove_all(job_dir_);  // the outputs are final; a new run starts afresh
      }
    }
  }
  // Writers that never saw the end of their stream (stopped, failed) keep what they have.
  for (auto& rt : stages_) {
    if (spooling_) break;
    if (auto* sink = dynamic_cast<SinkStage*>(rt->stage.get())) {
      if (!rt->finished) {
        rt->finished = true;
        try {
          sink->finish(false);
        } catch (const std::exception& e) {
          fail("stage '" + rt->cfg->id + "': " + e.what());
        }
      }
      for (auto& o : sink->outputs()) {
        result.outputs.push_back(o);
        result.output_stages.push_back(rt->cfg->id);
      }
    }
  }
  for (auto& rt : stages_) {
    if (spooling_ && rt->cfg->stage_type->schema.kind == StageKind::Sink) continue;
    try {
      rt->stage->close();
    } catch (const std::exception& e) {
      fail("stage '" + rt->cfg->id + "' close: " + e.what());
    }
  }

  result.seconds = seconds_since(t0);
  result.items = completed_.load();
  result.errors = errors_->count();
  result.peak_in_flight = static_cast<uint64_t>(peak_in_flight_.load());
  if (result.errors) result.errors_file = errors_->path();
  for (auto& rt : stages_) {
    StageStats s;
    s.id = rt->cfg->id;
    s.type = rt->cfg->type;
    s.items = rt->items;
    s.errors = rt->errors;
    s.busy_seconds = static_cast<double>(rt->busy_ns.load()) * 1e-9;
    s.calls = rt->calls;
    s.batch_items = rt->batch_items;
    s.threads = rt->cfg->stage_type->schema.uses_model_threads ? rt->ctx.threads : 0;
    s.concurrency = rt->cfg->concurrency;
    result.stages.push_back(s);
  }
  if (!fail_message_.empty()) {
    result.status = RunResult::Status::Failed;
    result.message = fail_message_;
  } else if (stopping() || hard_cancelled()) {
    result.status = RunResult::Status::Stopped;
    result.message = "stopped before the end of the input; outputs hold the items completed so far";
  }
  return result;
}

}  // namespace

std::string run_output_dir(const PipelineConfig& config) {
  if (!config.errors_path.empty()) {
    fs::path p = fs::path(config.errors_path).parent_path();
    return p.empty() ? "." : p.string();
  }
  // The first writer's output, as its schema declares it.
  for (const auto& sc : config.stages) {
    if (!sc.stage_type || sc.stage_type->schema.kind != StageKind::Sink) continue;
    for (const ParamSpec& spec : sc.stage_type->schema.params) {
      if (spec.role != PathRole::OutputFile && spec.role != PathRole::OutputDir) continue;
      if (!sc.params.has(spec.name) || !sc.params.raw(spec.name).is_string()) continue;
      fs::path p(sc.params.get_string(spec.name));
      if (spec.role == PathRole::OutputDir) return p.string();
      fs::path parent = p.parent_path();
      return parent.empty() ? "." : parent.string();
    }
  }
  return ".";
}

RunResult run_pipeline(const PipelineConfig& config, const RunOptions& options) {
  Run run(config, options);
  return run.execute();
}

Json RunResult::to_json() const {
  Json j;
  j["status"] = status == Status::Ok ? "ok" : status == Status::Stopped ? "stopped" : "failed";
  if (!message.empty()) j["message"] = message;
  j["items"] = items;
  j["errors"] = errors;
  if (!errors_file.empty()) j["errors_file"] = errors_file;
  j["seconds"] = seconds;
  j["items_per_second"] = seconds > 0 ? double(items) / seconds : 0.0;
  j["open_seconds"] = open_seconds;
  j["threads"] = threads;
  j["max_in_flight"] = max_in_flight;
  j["peak_in_flight"] = peak_in_flight;
  j["outputs"] = outputs;
  Json st = Json::array();
  for (const auto& s : stages) {
    Json e = {{"id", s.id},
              {"type", s.type},
              {"items", s.items},
              {"errors", s.errors},
              {"busy_seconds", s.busy_seconds},
              {"calls", s.calls},
              {"mean_batch", s.mean_batch()},
              {"concurrency", s.concurrency}};
    if (s.threads) e["threads"] = s.threads;
    st.push_back(e);
  }
  j["stages"] = st;
  return j;
}

std::string RunResult::summary_table() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-18s %-20s %10s %8s %10s %10s\n", "stage", "type", "items",
                "errors", "busy s", "mean batch");
  out += line;
  for (const auto& s : stages) {
    std::snprintf(line, sizeof line, "%-18s %-20s %10llu %8llu %10.3f %10.1f\n", s.id.c_str(),
                  s.type.c_str(), static_cast<unsigned long long>(s.items),
                  static_cast<unsigned long long>(s.errors), s.busy_seconds, s.mean_batch());
    out += line;
  }
  std::snprintf(line, sizeof line,
                "%llu items in %.2f s (%.1f items/s; %.2f s of it opening stages and models), "
                "%llu errors, %d threads\n",
                static_cast<unsigned long long>(items), seconds,
                seconds > 0 ? double(items) / seconds : 0.0, open_seconds,
                static_cast<unsigned long long>(errors), threads);
  out += line;
  return out;
}

}  // namespace embedflow
