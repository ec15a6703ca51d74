// The embedflow command line: one cmd_<name>.cpp per subcommand, each adding itself to the app
// and to the list main() dispatches from. What the commands share (exit codes, how a config
// error is printed) is here and in commands.cpp.
//
// Exit codes: 0 success; 1 the run failed (a stage error with on_error: fail, an unusable model,
// an unwritable output, a run that produced nothing or whose every item failed); 2 the pipeline
// file or the command line is invalid; 128+N stopped by signal N (130 SIGINT, 143 SIGTERM).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "embedflow/config.h"
#include "embedflow/progress.h"
#include "embedflow/registry.h"

namespace embedflow::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitInvalid = 2;

struct Command {
  CLI::App* app = nullptr;   // the parsed subcommand
  std::function<int()> run;  // returns the process exit code
};

using CommandList = std::vector<Command>;

// Prints every diagnostic and the error count on stderr; returns kExitInvalid.
int report_config_error(const ConfigError& e);
// The loader's warnings (deprecated keys, unused values) on stderr.
void print_warnings(const PipelineConfig& config);
// "auto" / "on" / "off" (the --progress choices) → ProgressMode.
ProgressMode progress_mode(const std::string& name);
// For preflight: the offline alternatives to a model that is neither local nor in the hub
// cache (the bundled random-weight models, when this process can see the source tree).
std::string offline_model_hint(const std::string& model);
// `--set stage_id.param=value` (repeatable), for every command that loads a pipeline.
void add_set_option(CLI::App* cmd, std::vector<std::string>& overrides);

// The subcommands, one file each.
void add_run_command(CLI::App& app, CommandList& commands, const Registry& registry);
void add_embed_command(CLI::App& app, CommandList& commands, const Registry& registry);
void add_search_command(CLI::App& app, CommandList& commands, const Registry& registry);
void add_merge_command(CLI::App& app, CommandList& commands, const Registry& registry);
void add_validate_command(CLI::App& app, CommandList& commands, const Registry& registry);
void add_graph_command(CLI::App& app, CommandList& commands, const Registry& registry);
void add_stages_command(CLI::App& app, CommandList& commands, const Registry& registry);
void add_inspect_command(CLI::App& app, CommandList& commands);
void add_tokenize_command(CLI::App& app, CommandList& commands);
void add_test_command(CLI::App& app, CommandList& commands, const Registry& registry);
void add_models_commands(CLI::App& app, CommandList& commands);
void add_cluster_commands(CLI::App& app, CommandList& commands, const Registry& registry);

}  // namespace embedflow::cli
