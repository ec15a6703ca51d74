// run_job: a pipeline run as part of a batch job, through the engine's generic hooks
// (RunOptions::wrap_stage, errors file, items done before).
#include <filesystem>
#include <stdexcept>

#include "embedflow/atomic_file.h"
#include "embedflow/hub/resolver.h"
#include "embedflow/jobs/batch_job.h"
#include "embedflow/jobs/job_journal.h"
#include "embedflow/run_identity.h"
#include "job_stages.h"

namespace fs = std::filesystem;

namespace embedflow::jobs {

namespace {

// A reduce stage needs every item at once: a shard or a resumed run would give it a part.
void refuse_reduce_stages(const PipelineConfig& config) {
  for (const auto& sc : config.stages)
    if (sc.stage_type->schema.kind == StageKind::Reduce)
      throw std::runtime_error(
          "stage '" + sc.id + "' (" + sc.type +
          ") needs every item at once, so it cannot run inside a shard or a resumable run: "
          "run it as a second job over the merged outputs (docs/scale.md)");
}

// What `embedflow merge` needs to write what a single-process run would have written.
void write_success_marker(const PipelineConfig& config, const JobOptions& job,
                          const RunIdentity& identity, const std::string& dir,
                          const RunResult& result) {
  Json manifest = {{"shard", job.shard.index},
                   {"num_shards", job.shard.count},
                   {"config_hash", identity.config_hash},
                   {"pipeline_file", config.file},
                   {"pipeline_yaml", job.pipeline_yaml},
                   {"overrides", job.overrides},
                   {"cwd", fs::current_path().string()},
                   {"sinks", sink_manifest(config)},
                   {"output_dir", run_output_dir(config)},
                   {"errors_path", run_errors_path(config)},
                   {"items", result.items},
                   {"errors", result.errors}};
  AtomicFile f((fs::path(dir) / "_SUCCESS.json").string());
  f.write(manifest.dump(2) + "\n");
  f.commit();
}

}  // namespace

RunResult run_job(const PipelineConfig& config, const JobOptions& job, const RunOptions& run) {
  refuse_reduce_stages(config);
  const std::string dir = job_dir(config, job.shard);
  size_t sinks = 0;
  for (const auto& sc : config.stages)
    if (sc.stage_type->schema.kind == StageKind::Sink) ++sinks;
  // Before any stage is opened: a run that may not start (an earlier journal in the way, another
  // configuration) stops before any model is loaded.
  const RunIdentity identity = run_identity(config, hub::model_resolver());
  Json header = {
      {"embedflow", EMBEDFLOW_VERSION},
      {"pipeline", config.name},
      {"config_hash", identity.config_hash},
      {"models", identity.models},
      {"shard", std::to_string(job.shard.index) + "/" + std::to_string(job.shard.count)}};
  auto journal = std::make_unique<JobJournal>(dir, header, job, sinks);

  std::atomic<uint64_t> done_before{0};
  size_t next_sink = 0;
  RunOptions options = run;
  options.wrap_stage = [&](const StageConfig& sc, std::unique_ptr<Stage> stage) {
    if (run.wrap_stage) stage = run.wrap_stage(sc, std::move(stage));
    switch (sc.stage_type->schema.kind) {
      case StageKind::Source:
        return std::unique_ptr<Stage>(
            new JournalSource(std::move(stage), *journal, job.shard, done_before, run.stop));
      case StageKind::Sink:
        // The writer constructed (its parameters validated) is not needed until assembly.
        return std::unique_ptr<Stage>(
            new SpoolingSink((fs::path(dir) / "parts" / sc.id).string(), *journal, next_sink++));
      default:
        return stage;
    }
  };
  if (job.shard.active()) options.errors_path = (fs::path(dir) / "errors.jsonl").string();
  options.append_errors = run.append_errors || job.resume;  // a resumed run adds to its own
  options.errors_in_place = true;  // what a killed run logged must survive for its resume
  // Shards of one job write into one output folder at once, each into its own job folder.
  options.lock_dir = dir;
  options.items_done_before = &done_before;
  RunResult result = run_pipeline(config, options);

  // Drained (also after a stop): every item the source registered went through.
  if (!(run.hard_cancel && run.hard_cancel->load())) journal->finish();
  if (result.status != RunResult::Status::Ok) return result;
  if (job.shard.active()) {
    write_success_marker(config, job, identity, dir, result);
  } else {
    result.outputs = assemble_outputs(config, {dir});
    journal.reset();
    fs::remove_all(dir);  // the outputs are final; a new run starts afresh
  }
  return result;
}

}  // namespace embedflow::jobs
