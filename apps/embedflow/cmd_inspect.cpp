// `embedflow inspect PATH`: a model file's architecture, parameter count and tensors.
#include <iostream>
#include <memory>

#include "apps/embedflow/commands.h"
#include "stages/common/stage_library.h"

namespace embedflow::cli {

void add_inspect_command(CLI::App& app, CommandList& commands) {
  auto path = std::make_shared<std::string>();
  auto* cmd =
      app.add_subcommand("inspect", "Show a model file's architecture, parameters and tensors");
  cmd->add_option("path", *path, "A .safetensors file, a model folder or a hub id")->required();
  commands.push_back({cmd, [path] {
                        std::cout << stage_library("model_stages").functions.at("inspect")(*path);
                        return kExitOk;
                      }});
}

}  // namespace embedflow::cli
