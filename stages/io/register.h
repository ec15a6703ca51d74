#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/io/ to the registry.
void register_io_stages(Registry& registry);

}  // namespace embedflow
