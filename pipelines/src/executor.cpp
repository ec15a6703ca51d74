// The engine's run: stages built and opened, phases run on a task arena, results collected.
// The nodes of each stage kind are built in executor_nodes.cpp.
#include "embedflow/executor.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include "embedflow/progress.h"
#include "embedflow/thread_plan.h"
#include "executor_run.h"

namespace fs = std::filesystem;

namespace embedflow {

namespace detail {

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

void Run::build_stages() {
  if (opts_.lock_output)
    lock_ = std::make_unique<OutputLock>(opts_.lock_dir.empty() ? run_output_dir(cfg_)
                                                                : opts_.lock_dir);
  errors_ = std::make_unique<ErrorLog>(
      opts_.errors_path.empty() ? run_errors_path(cfg_) : opts_.errors_path,
      opts_.append_errors     ? ErrorLog::Mode::Append
      : opts_.errors_in_place ? ErrorLog::Mode::InPlace
                              : ErrorLog::Mode::Replace);

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

  const std::string out_dir = run_output_dir(cfg_);
  for (const auto& sc : cfg_.stages) {
    auto rt = std::make_unique<StageRuntime>();
    rt->cfg = &sc;
    rt->ctx.stage_id = sc.id;
    rt->ctx.pipeline_file = cfg_.file;
    rt->ctx.output_dir = out_dir;
    rt->concurrency = sc.concurrency;
    rt->ctx.threads = 1;
    rt->ctx.cancelled = opts_.hard_cancel;
    if (sc.stage_type->schema.uses_model_threads) {
      const ModelStagePlan plan = plan_model_stage(
          threads_ / std::max(1, model_stages), sc.concurrency_given ? sc.concurrency : -1,
          sc.params.has("threads") ? static_cast<int>(sc.params.get_int("threads")) : 0,
          sc.stage_type->schema.max_concurrency);
      rt->concurrency = plan.concurrency;
      rt->ctx.threads = plan.intra_op_threads;
      // Room for every batch in the model and the one forming.
      if (sc.stage_type->schema.kind == StageKind::Batch)
        max_in_flight_ = std::max<int>(
            max_in_flight_,
            (plan.concurrency + 1) * static_cast<int>(sc.params.get_int("batch_size")) + 1);
    }
    rt->ctx.concurrency = rt->concurrency;
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
  for (auto& rt : stages_) {
    rt->stage = rt->cfg->stage_type->factory(rt->cfg->params);
    if (opts_.wrap_stage) rt->stage = opts_.wrap_stage(*rt->cfg, std::move(rt->stage));
    rt->stage->open(rt->ctx);
  }
  announce_row_shapes();
}

// Each stage's declared row shape from its first input's, inputs first; writers get theirs.
void Run::announce_row_shapes() {
  std::map<const StageRuntime*, std::optional<RowShape>> known;
  std::function<std::optional<RowShape>(StageRuntime&, int)> shape_of =
      [&](StageRuntime& rt, int depth) -> std::optional<RowShape> {
    auto it = known.find(&rt);
    if (it != known.end()) return it->second;
    std::optional<RowShape> input;
    // Inputs form a DAG; the depth bound only guards against a malformed one.
    if (!rt.cfg->inputs.empty() && depth < 1000)
      input = shape_of(*by_id_.at(rt.cfg->inputs[0]), depth + 1);
    std::optional<RowShape> out = rt.stage->output_row_shape(input);
    known[&rt] = out;
    return out;
  };
  for (auto& rt : stages_) {
    auto* sink = dynamic_cast<SinkStage*>(rt->stage.get());
    if (!sink || rt->cfg->inputs.empty()) continue;
    std::optional<RowShape> row = shape_of(*by_id_.at(rt->cfg->inputs[0]), 0);
    if (row) sink->expect_row_shape(*row);
  }
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
  // Hard cancellation: a watcher cancels the graph so queued work is dropped. It waits on a
  // condition, not a sleep, so that the end of the graph wakes it at once (a 20 ms sleep was
  // half the wall time of a one-clip spectrogram run).
  std::mutex phase_mutex;
  std::condition_variable phase_cv;
  bool phase_done = false;
  std::thread watcher([&] {
    std::unique_lock<std::mutex> lock(phase_mutex);
    while (!phase_cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return phase_done; })) {
      if (hard_cancelled()) {
        g.cancel();
        break;
      }
    }
  });
  g.wait_for_all();
  {
    std::lock_guard<std::mutex> lock(phase_mutex);
    phase_done = true;
  }
  phase_cv.notify_all();
  watcher.join();
  for (auto& pool : pools_) pool->active = false;
  for (auto& pool : pools_)
    peak_in_flight_ = std::max<int64_t>(peak_in_flight_.load(), pool->peak.load());
  // Packets still buffered in nodes die with them; the pools must outlive that.
  nodes_.clear();
  inputs_.clear();
  pools_.clear();
}

// Writers that never saw the end of their stream (stopped, failed) keep what they have.
void Run::finish_sinks(RunResult& result) {
  for (auto& rt : stages_) {
    auto* sink = dynamic_cast<SinkStage*>(rt->stage.get());
    if (!sink) continue;
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

void Run::close_stages() {
  for (auto& rt : stages_) {
    try {
      rt->stage->close();
    } catch (const std::exception& e) {
      fail("stage '" + rt->cfg->id + "' close: " + e.what());
    }
  }
}

RunResult Run::execute() {
  RunResult result;
  auto t0 = Clock::now();
  build_stages();
  result.open_seconds = seconds_since(t0);
  for (auto& rt : stages_) rt->description = rt->stage->description();
  result.threads = threads_;
  result.max_in_flight = max_in_flight_;
  int max_phase = 0;
  for (auto& rt : stages_) max_phase = std::max(max_phase, rt->phase);

  std::unique_ptr<ProgressReporter> progress;
  if (opts_.progress != ProgressMode::Off) {
    bool tty = ::isatty(2);
    if (opts_.progress == ProgressMode::On || tty)
      progress = std::make_unique<ProgressReporter>(tty, [this] {
        return ProgressSnapshot{items_completed(), total_hint_.load()};
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

  finish_sinks(result);
  close_stages();
  // After the writers: the error records replace an earlier file when the outputs do.
  try {
    result.errors_file = errors_->commit(fail_message_.empty() && !stopping() && !hard_cancelled());
  } catch (const std::exception& e) {
    fail(e.what());
  }

  result.seconds = seconds_since(t0);
  result.items = items_completed();
  result.errors = errors_->count();
  result.peak_in_flight = static_cast<uint64_t>(peak_in_flight_.load());
  if (result.errors && result.errors_file.empty()) result.errors_file = errors_->path();
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
    s.concurrency = rt->concurrency;
    s.description = rt->description;
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

}  // namespace detail

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

std::string run_errors_path(const PipelineConfig& config) {
  if (!config.errors_path.empty()) return config.errors_path;
  return (fs::path(run_output_dir(config)) / "errors.jsonl").string();
}

RunResult run_pipeline(const PipelineConfig& config, const RunOptions& options) {
  detail::Run run(config, options);
  return run.execute();
}

}  // namespace embedflow
