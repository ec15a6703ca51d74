#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/debug/ to the registry.
void register_debug_stages(Registry& registry);

}  // namespace embedflow
