#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/index/ (write.index, search.index) to the registry.
void register_index_stages(Registry& registry);

}  // namespace embedflow
