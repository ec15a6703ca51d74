// The embedflow command line. Each subcommand lives in its own cmd_<name>.cpp and adds itself
// to the app; main() builds the registry, parses, and runs the one the user picked. Exit codes
// are in commands.h.
#include <cstdlib>
#include <iostream>

#include <oneapi/tbb/version.h>
#include <CLI/CLI.hpp>

#include "apps/embedflow/commands.h"
#include "embedflow/regression/settings.h"
#include "stages/builtin.h"
#include "stages/common/stage_library.h"

int main(int argc, char** argv) {
  using namespace embedflow;
  Registry registry;
  register_builtin_stages(registry);
  // Declared for every command, so that run and validate accept (and check) what test reads.
  regression::register_test_section(registry);

  CLI::App app{"embedflow — audio, images and text to embeddings with YAML pipelines on oneTBB"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] {
    // The model stages' library is not loaded for this (it costs a third of a second): the line
    // says where it is and which libtorch it was built against.
    return std::string("embedflow ") + EMBEDFLOW_VERSION + "\noneTBB " + TBB_VERSION_STRING +
           "\nmodel stages: " + stage_library_path("model_stages") + " (libtorch " +
           EMBEDFLOW_TORCH_VERSION + ", loaded when a pipeline opens a model stage)";
  });

  cli::CommandList commands;
  cli::add_run_command(app, commands, registry);
  cli::add_embed_command(app, commands, registry);
  cli::add_search_command(app, commands, registry);
  cli::add_merge_command(app, commands, registry);
  cli::add_validate_command(app, commands, registry);
  cli::add_stages_command(app, commands, registry);
  cli::add_inspect_command(app, commands);
  cli::add_tokenize_command(app, commands);
  cli::add_graph_command(app, commands, registry);
  cli::add_cluster_commands(app, commands, registry);
  cli::add_models_commands(app, commands);
  cli::add_test_command(app, commands, registry);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? cli::kExitOk : cli::kExitInvalid;
  }
  try {
    for (const auto& c : commands)
      if (*c.app) return c.run();
  } catch (const ConfigError& e) {
    return cli::report_config_error(e);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return cli::kExitFailed;
  }
  return cli::kExitOk;
}
