// Runs a validated pipeline on a oneTBB flow graph.
//
// Every stage becomes one or more flow-graph nodes. What travels on the edges is a Packet: the
// items derived from one source item (usually one), its position in source order, and a ticket
// that returns an in-flight token to the source's limiter when the last copy of the packet dies.
// Writers, batchers and reducers sit behind sequencer nodes, so they see source order however
// many items run concurrently upstream. Reduce stages split the run into phases: a reducer
// consumes whole streams in one phase and is the source of the next.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "embedflow/config.h"
#include "embedflow/progress.h"
#include "embedflow/stage.h"

namespace embedflow {

// Given a stage as its factory constructed it (not yet opened), returns the stage the run uses:
// the same one, or a wrapper around it. The engine then opens, feeds and closes the returned
// stage like any other of its kind; whether a wrapper opens the stage it wraps is its own
// business. This is how a layer above (jobs/) changes where a source's items come from or where
// a writer's items go without the engine knowing why.
using StageDecorator =
    std::function<std::unique_ptr<Stage>(const StageConfig& config, std::unique_ptr<Stage> stage)>;

struct RunOptions {
  int threads = 0;  // overrides the pipeline's `threads` when > 0
  ProgressMode progress = ProgressMode::Off;
  // Set (e.g. by a signal handler) to stop: the first request stops the sources and drains what
  // is in flight; `hard_cancel` abandons in-flight work.
  std::atomic<bool>* stop = nullptr;
  std::atomic<bool>* hard_cancel = nullptr;

  // Hooks for a layer above the engine.
  StageDecorator wrap_stage;   // applied to every stage after construction
  std::string errors_path;     // "" = run_errors_path(config)
  bool append_errors = false;  // add to an existing errors file instead of replacing it
  // Write error records straight into the errors file as they come (an earlier file is removed
  // first) instead of replacing it at the end of the run: a journaled job, whose killed run's
  // records must be there for its resume. Otherwise a run that does not end normally leaves an
  // earlier complete errors file as it was and puts its own beside it (partial_path).
  bool errors_in_place = false;
  // The folder locked against other runs for this run's length; "" = run_output_dir(config).
  std::string lock_dir;
  // False: the caller already holds the lock (an OutputLock kept across more than this run).
  bool lock_output = true;
  // Items a source wrapper passed over because they were completed before (by an earlier run):
  // counted as completed in the progress display and RunResult::items.
  const std::atomic<uint64_t>* items_done_before = nullptr;
};

struct StageStats {
  std::string id;
  std::string type;
  uint64_t items = 0;   // items this stage processed (good ones)
  uint64_t errors = 0;  // error records it produced
  double busy_seconds = 0;
  uint64_t calls = 0;        // process calls (batches for batch stages)
  uint64_t batch_items = 0;  // items in those calls
  int threads = 0;           // intra-op threads given to a model stage
  int concurrency = 1;
  std::string description;  // Stage::description(): a model stage's model and its path
  double mean_batch() const { return calls ? double(batch_items) / double(calls) : 0.0; }
};

struct RunResult {
  enum class Status { Ok, Stopped, Failed };
  Status status = Status::Ok;
  std::string message;  // why it stopped or failed
  std::vector<StageStats> stages;
  uint64_t items = 0;   // source items completed (all stages done with them)
  uint64_t errors = 0;  // error records written
  uint64_t peak_in_flight = 0;
  int threads = 0;
  int max_in_flight = 0;
  double seconds = 0;       // the whole run, opening the stages (loading models) included
  double open_seconds = 0;  // of which constructing and opening the stages
  std::string errors_file;  // "" when there were no errors
  std::vector<std::string> outputs;
  std::vector<std::string> output_stages;  // the writer stage id of each `outputs` entry

  Json to_json() const;
  std::string summary_table() const;
};

RunResult run_pipeline(const PipelineConfig& config, const RunOptions& options = {});

// Where errors.jsonl and other run files go: `errors:` of the pipeline, else the folder of the
// first writer's `path`/`dir`, else the current directory.
std::string run_output_dir(const PipelineConfig& config);
// The pipeline's error records: `errors:`, else run_output_dir/errors.jsonl.
std::string run_errors_path(const PipelineConfig& config);

}  // namespace embedflow
