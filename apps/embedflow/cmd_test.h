// `embedflow test PIPELINE.yaml --golden DIR [--update]`: pipeline regression tests.
#pragma once

#include "apps/embedflow/commands.h"

namespace embedflow {

void add_test_command(CLI::App& app, cli::CommandList& commands, const Registry& registry);

}  // namespace embedflow
