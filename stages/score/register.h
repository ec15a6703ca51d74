#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/score/ to the registry.
void register_score_stages(Registry& registry);

}  // namespace embedflow
