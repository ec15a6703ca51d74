// run_job: a pipeline run as part of a batch job, through the engine's generic hooks
// (RunOptions::wrap_stage, errors file, items done before).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>

#include "embedflow/atomic_file.h"
#include "embedflow/hub/resolver.h"
#include "embedflow/jobs/batch_job.h"
#include "embedflow/jobs/job_journal.h"
#include "embedflow/output_lock.h"
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

// A killed attempt leaves its open spools as part-<P>-a<K>.items.tmp-<pid>. Each attempt spools
// under names of its own, so no later writer of the same path removes them (as AtomicFile does);
// under the job's lock no other process writes there, so every temporary is stale.
void remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->path().filename().string().find(".tmp-") != std::string::npos)
      stale.push_back(it->path());
  for (const auto& path : stale) fs::remove(path, ec);
}

// This job's error records: one per failed item, from the attempt whose journal line completed
// its part. An attempt that was killed or stopped before journaling a part logged the failures
// of that part, and the attempt that redid it logged them again; only the latter count.
std::vector<std::string> job_error_records(const std::string& dir, const JobJournal& journal) {
  static const std::regex name_re("errors-a(\\d+)\\.jsonl");
  std::vector<std::pair<int, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, name_re)) files.emplace_back(std::stoi(m[1]), entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> records;
  for (const auto& [attempt, path] : files) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      const Json j = Json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("index")) continue;  // a line cut short by a kill
      if (journal.completed_by(j["index"].get<uint64_t>()) == attempt) records.push_back(line);
    }
  }
  return records;
}

}  // namespace

RunResult run_job(const PipelineConfig& config, const JobOptions& job, const RunOptions& run) {
  refuse_reduce_stages(config);
  const std::string dir = job_dir(config, job.shard);
  // Held from before the journal is read until the outputs are assembled, so a second run of the
  // job (another --resume, a --force) never touches the journal or parts of one in progress.
  // Shards of one job write into one output folder at once, each into its own locked folder; a
  // resumable run writes the output folder's files, so it locks that folder as a plain run does.
  OutputLock lock(job.shard.active() ? dir : run_output_dir(config));
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
  remove_stale_temporaries(dir);

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
  // Each attempt logs into a file of its own; the job's errors.jsonl is built from them at the end
  // (job_error_records), when it is known which attempt completed which part.
  options.errors_path =
      (fs::path(dir) / ("errors-a" + std::to_string(journal->attempt()) + ".jsonl")).string();
  options.append_errors = false;
  // In place: what a killed attempt logged must be there for the resume that assembles
  // errors.jsonl.
  options.errors_in_place = true;
  options.lock_output = false;
  options.items_done_before = &done_before;
  RunResult result = run_pipeline(config, options);

  // Drained (also after a stop): every item the source registered went through.
  if (!(run.hard_cancel && run.hard_cancel->load())) journal->finish();
  if (result.status != RunResult::Status::Ok) return result;
  std::vector<std::string> errors = job_error_records(dir, *journal);
  if (job.shard.active()) {
    result.errors_file = (fs::path(dir) / "errors.jsonl").string();
    result.errors = write_error_records(result.errors_file, std::move(errors));
    write_success_marker(config, job, identity, dir, result);
  } else {
    // What the writers took is the job's, not this attempt's: a run resumed after a kill during
    // assembly has nothing left to do, yet its outputs hold every item.
    std::map<std::string, uint64_t> written;
    result.outputs = assemble_outputs(config, {dir}, &errors, &written);
    for (auto& stage : result.stages) {
      const StageConfig* sc = config.find(stage.id);
      if (sc && sc->stage_type->schema.kind == StageKind::Sink) stage.items = written[stage.id];
    }
    result.errors_file = run_errors_path(config);
    result.errors = write_error_records(result.errors_file, std::move(errors));
    // The outputs are final; a new run starts afresh. The journal goes first: a kill during the
    // removal must not leave a journal whose parts are partly gone, which a --resume would
    // assemble into outputs missing those parts.
    journal.reset();
    fs::remove(fs::path(dir) / "journal.jsonl");
    fs::remove_all(dir);
  }
  if (!result.errors) result.errors_file.clear();
  return result;
}

}  // namespace embedflow::jobs
