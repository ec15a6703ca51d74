// The embedflow command line: run, validate, stages, graph (and the model/regression commands).
//
// Exit codes: 0 success; 1 the run failed (a stage error with on_error: fail, an unusable model,
// an unwritable output); 2 the pipeline file or the command line is invalid; 130/143 stopped by
// SIGINT/SIGTERM (outputs hold the items completed before the stop).
#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include <oneapi/tbb/version.h>
#include <CLI/CLI.hpp>

#include "apps/embedflow/cmd_cluster.h"
#include "apps/embedflow/cmd_models.h"
#include "apps/embedflow/cmd_test.h"
#include "apps/embedflow/commands.h"
#include "embedflow/batch_job.h"
#include "embedflow/config.h"
#include "embedflow/executor.h"
#include "embedflow/regression/settings.h"
#include "embedflow/schema_doc.h"
#include "models/inspect.h"
#include "models/torch_runtime.h"
#include "stages/builtin.h"

namespace {

using namespace embedflow;

constexpr int kExitFailed = 1;
constexpr int kExitInvalid = 2;

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

int report_config_error(const ConfigError& e) {
  size_t errors = 0;
  for (const auto& d : e.diagnostics()) {
    std::cerr << d.str() << "\n";
    if (d.severity == Diagnostic::Severity::Error) ++errors;
  }
  std::cerr << errors << (errors == 1 ? " error" : " errors") << "\n";
  return kExitInvalid;
}

void print_warnings(const PipelineConfig& cfg) {
  for (const auto& w : cfg.warnings) std::cerr << w.str() << "\n";
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string render_dot(const PipelineConfig& cfg) {
  std::string out = "digraph \"" + dot_escape(cfg.name.empty() ? "pipeline" : cfg.name) + "\" {\n";
  out += "  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  for (const auto& s : cfg.stages) {
    const StageSchema& schema = s.stage_type->schema;
    const char* shape = schema.kind == StageKind::Source   ? "invhouse"
                        : schema.kind == StageKind::Sink   ? "house"
                        : schema.kind == StageKind::Reduce ? "octagon"
                        : schema.kind == StageKind::Batch  ? "box3d"
                                                           : "box";
    out += "  \"" + dot_escape(s.id) + "\" [label=\"" + dot_escape(s.id) + "\\n" +
           dot_escape(s.type) + "\", shape=" + shape + "];\n";
  }
  for (const auto& s : cfg.stages) {
    const StageSchema& schema = s.stage_type->schema;
    for (size_t p = 0; p < s.inputs.size(); ++p) {
      const StageConfig* up = cfg.find(s.inputs[p]);
      std::string label = up ? kind_name(up->output) : "";
      if (schema.inputs.size() > 1 && p < schema.inputs.size())
        label += " → " + schema.inputs[p].name;
      out += "  \"" + dot_escape(s.inputs[p]) + "\" -> \"" + dot_escape(s.id) + "\" [label=\"" +
             dot_escape(label) + "\"];\n";
    }
  }
  return out + "}\n";
}

// glibc raises its mmap threshold (up to 32 MB) each time a block above it is freed; from then
// on the buffers a run allocates and frees by the thousand (decoded audio, images) come from the
// heap arenas and fragment them, and RSS creeps up for the whole run. Fixing the threshold at
// glibc's initial 128 KB keeps every larger block in its own mapping, returned to the system when
// freed. Model activations, where a fresh mapping per block would cost page faults on every
// batch, come from the models' caching tensor allocator instead (models/tensor_allocator.cpp).
// MALLOC_MMAP_THRESHOLD_ in the environment still decides if set.
void fix_malloc_mmap_threshold() {
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

}  // namespace

int main(int argc, char** argv) {
  fix_malloc_mmap_threshold();
  Registry registry;
  register_builtin_stages(registry);
  // Declared for every command, so that run and validate accept (and check) what test reads.
  regression::register_test_section(registry);

  CLI::App app{"embedflow — audio, images and text to embeddings with YAML pipelines on oneTBB"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] {
    return std::string("embedflow ") + EMBEDFLOW_VERSION + "\noneTBB " + TBB_VERSION_STRING + "\n" +
           models::torch_build_summary();
  });

  // run
  auto* run = app.add_subcommand("run", "Run a pipeline");
  std::string run_file, stats_file, progress = "auto";
  std::vector<std::string> overrides;
  int threads = 0;
  run->add_option("file", run_file, "Pipeline YAML")->required()->check(CLI::ExistingFile);
  run->add_option("--set", overrides, "Override a value: stage_id.param=value (repeatable)");
  run->add_option("--threads", threads, "Cores to use (TBB arena and libtorch together)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--progress", progress, "Progress display")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  run->add_option("--stats", stats_file, "Write the run summary as JSON");
  std::string shard_text;
  int num_shards = 0;
  JobOptions job;
  run->add_option("--shard", shard_text,
                  "Run shard I of N (I/N); detected from SLURM_ARRAY_TASK_ID/_COUNT or "
                  "JOB_COMPLETION_INDEX when not given");
  run->add_option("--num-shards", num_shards,
                  "Shard count for JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)")
      ->check(CLI::Range(1, 1000000));
  run->add_flag("--resumable", job.resumable,
                "Keep a journal so an interrupted run can be continued with --resume");
  run->add_flag("--resume", job.resume, "Continue an interrupted run: skip completed items");
  run->add_flag("--force", job.force, "Discard an earlier run's journal and start over");
  run->add_option("--part-size", job.part_size, "Source items per journal part (default 10000)")
      ->check(CLI::Range(1, 100000000));

  // merge
  auto* merge = app.add_subcommand("merge", "Assemble the outputs of all shards under OUT");
  std::string merge_dir;
  merge->add_option("out", merge_dir, "The pipeline's output folder (holds shard-I-of-N/)")
      ->required();

  // validate
  auto* validate = app.add_subcommand("validate", "Check a pipeline file without running it");
  std::string validate_file;
  validate->add_option("file", validate_file, "Pipeline YAML")
      ->required()
      ->check(CLI::ExistingFile);
  validate->add_option("--set", overrides, "Override a value: stage_id.param=value (repeatable)");

  // stages
  auto* stages = app.add_subcommand("stages", "List stage types, or show one's parameters");
  std::string stage_type;
  bool markdown = false;
  stages->add_option("type", stage_type, "A stage type, e.g. audio.spectrogram");
  stages->add_flag("--markdown", markdown,
                   "Render the full reference as Markdown (docs/stages.md)");

  // inspect
  auto* inspect =
      app.add_subcommand("inspect", "Show a model file's architecture, parameters and tensors");
  std::string inspect_path;
  inspect->add_option("path", inspect_path, "A .safetensors file, a model folder or a hub id")
      ->required();

  // graph
  auto* graph = app.add_subcommand("graph", "Print the pipeline as a Graphviz DOT graph");
  std::string graph_file;
  graph->add_option("file", graph_file, "Pipeline YAML")->required()->check(CLI::ExistingFile);
  graph->add_option("--set", overrides, "Override a value: stage_id.param=value (repeatable)");

  // Commands that live in their own files (cmd_*.cpp) add themselves here.
  cli::CommandList commands;
  add_cluster_commands(app, commands, registry);
  cli::add_models_commands(app, commands);
  add_test_command(app, commands, registry);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitInvalid;
  }

  try {
    LoadOptions load_options;
    load_options.overrides = overrides;

    for (const auto& c : commands)
      if (*c.app) return c.run();

    if (*stages) {
      if (markdown) {
        std::cout << render_reference_markdown(registry);
      } else if (stage_type.empty()) {
        std::cout << render_stage_list(registry);
      } else if (const auto* t = registry.find(stage_type)) {
        std::cout << render_stage_text(t->schema);
      } else {
        auto s = registry.suggest(stage_type);
        std::cerr << "unknown stage type '" << stage_type << "'"
                  << (s.empty() ? "" : " (did you mean '" + s[0] + "'?)") << "\n";
        return kExitInvalid;
      }
      return 0;
    }

    if (*validate) {
      PipelineConfig cfg = load_pipeline_file(validate_file, registry, load_options);
      print_warnings(cfg);
      std::cout << validate_file << ": ok (" << cfg.stages.size() << " stages)\n";
      return 0;
    }

    if (*merge) return merge_shards(merge_dir, registry, std::cerr);

    if (*inspect) {
      std::cout << models::inspect_model(inspect_path);
      return 0;
    }

    if (*graph) {
      PipelineConfig cfg = load_pipeline_file(graph_file, registry, load_options);
      std::cout << render_dot(cfg);
      return 0;
    }

    if (*run) {
      PipelineConfig cfg = load_pipeline_file(run_file, registry, load_options);
      print_warnings(cfg);
      try {
        if (!shard_text.empty())
          job.shard = parse_shard(shard_text);
        else if (auto env = shard_from_environment(num_shards))
          job.shard = *env;
      } catch (const std::invalid_argument& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitInvalid;
      }
      if (job.spooling()) {
        std::ifstream yaml(run_file);
        job.pipeline_yaml.assign(std::istreambuf_iterator<char>(yaml), {});
        job.overrides = overrides;
        if (job.shard.active())
          std::cerr << "shard " << job.shard.index << " of " << job.shard.count << " → "
                    << job_dir(cfg, job.shard) << "\n";
      }
      install_signal_handlers();
      RunOptions opts;
      opts.job = job;
      opts.threads = threads;
      opts.progress = progress == "on"    ? ProgressMode::On
                      : progress == "off" ? ProgressMode::Off
                                          : ProgressMode::Auto;
      opts.stop = &g_stop;
      opts.hard_cancel = &g_hard_cancel;
      RunResult result = run_pipeline(cfg, opts);
      std::cerr << result.summary_table();
      if (!result.outputs.empty()) {
        std::cerr << "outputs:";
        for (const auto& o : result.outputs) std::cerr << " " << o;
        std::cerr << "\n";
      }
      if (result.errors)
        std::cerr << result.errors << " item(s) failed; see " << result.errors_file << "\n";
      if (!stats_file.empty()) {
        std::ofstream f(stats_file);
        f << result.to_json().dump(2) << "\n";
      }
      if (result.status == RunResult::Status::Failed) {
        std::cerr << "error: " << result.message << "\n";
        return kExitFailed;
      }
      if (result.status == RunResult::Status::Stopped) {
        std::cerr << "stopped: " << result.message << "\n";
        int sig = g_signal.load();
        return sig ? 128 + sig : kExitFailed;
      }
      return 0;
    }
  } catch (const ConfigError& e) {
    return report_config_error(e);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitFailed;
  }
  return 0;
}
