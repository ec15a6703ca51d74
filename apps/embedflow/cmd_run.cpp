// `embedflow run FILE`: a pipeline run, plain or as part of a batch job (--shard, --resumable,
// --resume), with signals turned into a graceful stop, and `embedflow merge OUT`.
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>

#include "apps/embedflow/commands.h"
#include "embedflow/executor.h"
#include "embedflow/hub/resolver.h"
#include "embedflow/jobs/batch_job.h"
#include "embedflow/preflight.h"

namespace embedflow::cli {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_hard_cancel{false};
std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  // First signal: stop the sources and drain; second: abandon in-flight work.
  if (g_stop.exchange(true)) g_hard_cancel = true;
  g_signal = sig;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

struct RunArgs {
  std::string file, stats_file, progress = "auto", shard_text;
  std::vector<std::string> overrides;
  int threads = 0;
  int num_shards = 0;
  jobs::JobOptions job;
};

// Items that reached a writer: a run whose every item failed must not look like a success to
// the script that started it.
uint64_t items_written(const PipelineConfig& cfg, const RunResult& result, bool& has_writers) {
  uint64_t written = 0;
  has_writers = false;
  for (const auto& s : result.stages) {
    const StageConfig* sc = cfg.find(s.id);
    if (!sc || sc->stage_type->schema.kind != StageKind::Sink) continue;
    has_writers = true;
    written += s.items;
  }
  return written;
}

int run(RunArgs& a, const Registry& registry) {
  LoadOptions load_options;
  load_options.overrides = a.overrides;
  PipelineConfig cfg = load_pipeline_file(a.file, registry, load_options);
  print_warnings(cfg);
  preflight(cfg, hub::model_resolver(), offline_model_hint);
  jobs::JobOptions& job = a.job;
  try {
    if (!a.shard_text.empty())
      job.shard = jobs::parse_shard(a.shard_text);
    else if (auto env = jobs::shard_from_environment(a.num_shards))
      job.shard = *env;
  } catch (const std::invalid_argument& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitInvalid;
  }
  if (job.spooling()) {
    std::ifstream yaml(a.file);
    job.pipeline_yaml.assign(std::istreambuf_iterator<char>(yaml), {});
    job.overrides = a.overrides;
    if (job.shard.active())
      std::cerr << "shard " << job.shard.index << " of " << job.shard.count << " → "
                << jobs::job_dir(cfg, job.shard) << "\n";
  }
  install_signal_handlers();
  RunOptions opts;
  opts.threads = a.threads;
  opts.progress = progress_mode(a.progress);
  opts.stop = &g_stop;
  opts.hard_cancel = &g_hard_cancel;
  RunResult result = job.spooling() ? jobs::run_job(cfg, job, opts) : run_pipeline(cfg, opts);
  std::cerr << result.summary_table();
  if (!result.outputs.empty()) {
    std::cerr << "outputs:";
    for (const auto& o : result.outputs) std::cerr << " " << o;
    std::cerr << "\n";
  }
  if (result.errors)
    std::cerr << result.errors << " item(s) failed; see " << result.errors_file << "\n";
  if (!a.stats_file.empty()) {
    std::ofstream f(a.stats_file);
    f << result.to_json().dump(2) << "\n";
  }
  if (result.status == RunResult::Status::Failed) {
    std::cerr << "error: " << result.message << "\n";
    return kExitFailed;
  }
  if (result.status == RunResult::Status::Stopped) {
    std::cerr << "stopped: " << result.message << "\n";
    if (job.spooling())
      std::cerr << "the parts completed so far are kept: run again with --resume to finish\n";
    int sig = g_signal.load();
    return sig ? 128 + sig : kExitFailed;
  }
  // A shard may hold no item at all (ids hash elsewhere); the job is judged at the merge.
  if (result.items == 0 && !job.shard.active()) {
    std::cerr << "error: the run produced nothing: its sources gave no items\n";
    return kExitFailed;
  }
  bool has_writers = false;
  // A shard's writers took only this attempt's items (an earlier attempt may have done the rest):
  // like an empty shard, it is judged at the merge.
  if (items_written(cfg, result, has_writers) == 0 && has_writers && result.errors > 0 &&
      !job.shard.active()) {
    std::cerr << "error: every item failed; nothing was written (the reasons are in "
              << result.errors_file << ")\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

void add_run_command(CLI::App& app, CommandList& commands, const Registry& registry) {
  auto a = std::make_shared<RunArgs>();
  auto* run_cmd = app.add_subcommand("run", "Run a pipeline");
  run_cmd->add_option("file", a->file, "Pipeline YAML")->required()->check(CLI::ExistingFile);
  add_set_option(run_cmd, a->overrides);
  run_cmd->add_option("--threads", a->threads, "Cores to use (TBB arena and libtorch together)")
      ->check(CLI::Range(1, 1024));
  run_cmd->add_option("--progress", a->progress, "Progress display")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  run_cmd->add_option("--stats", a->stats_file, "Write the run summary as JSON");
  run_cmd->add_option("--shard", a->shard_text,
                      "Run shard I of N (I/N); detected from SLURM_ARRAY_TASK_ID/_COUNT or "
                      "JOB_COMPLETION_INDEX when not given");
  run_cmd
      ->add_option("--num-shards", a->num_shards,
                   "Shard count for JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)")
      ->check(CLI::Range(1, 1000000));
  run_cmd->add_flag("--resumable", a->job.resumable,
                    "Keep a journal so an interrupted run can be continued with --resume");
  run_cmd->add_flag("--resume", a->job.resume, "Continue an interrupted run: skip completed items");
  run_cmd->add_flag("--force", a->job.force, "Discard an earlier run's journal and start over");
  run_cmd
      ->add_option("--part-size", a->job.part_size,
                   "Source items per journal part, for shards and resumable runs (default 10000)")
      ->check(CLI::Range(1, 100000000));
  commands.push_back({run_cmd, [a, &registry] { return run(*a, registry); }});
}

void add_merge_command(CLI::App& app, CommandList& commands, const Registry& registry) {
  auto dir = std::make_shared<std::string>();
  auto* merge = app.add_subcommand("merge", "Assemble the outputs of all shards under OUT");
  merge->add_option("out", *dir, "The pipeline's output folder (holds shard-I-of-N/)")->required();
  commands.push_back(
      {merge, [dir, &registry] { return jobs::merge_shards(*dir, registry, std::cerr); }});
}

}  // namespace embedflow::cli
