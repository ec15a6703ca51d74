#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/aggregate/ to the registry.
void register_aggregate_stages(Registry& registry);

}  // namespace embedflow
