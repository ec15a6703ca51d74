#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/image/ to the registry.
void register_image_stages(Registry& registry);

}  // namespace embedflow
