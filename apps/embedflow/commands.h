// Subcommands of the embedflow CLI beyond run/validate/stages/graph. Each lives in its own
// cmd_<name>.cpp and adds itself to the app; main() runs the one the user picked.
#pragma once

#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

#include "embedflow/registry.h"

namespace embedflow::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitInvalid = 2;

struct Command {
  CLI::App* app = nullptr;    // the parsed subcommand
  std::function<int()> run;  // returns the process exit code
};

using CommandList = std::vector<Command>;

}  // namespace embedflow::cli
