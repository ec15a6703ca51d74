// `embedflow models fetch|list|path`: models from the Hugging Face hub, in the cache Python
// shares (embedflow/hub/hub.h).
#pragma once

#include <CLI/CLI.hpp>

#include "apps/embedflow/commands.h"

namespace embedflow::cli {

void add_models_commands(CLI::App& app, CommandList& commands);

}  // namespace embedflow::cli
