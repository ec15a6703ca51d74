#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/clip/ to the registry.
void register_clip_stages(Registry& registry);

}  // namespace embedflow
