#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/text/ to the registry.
void register_text_stages(Registry& registry);

}  // namespace embedflow
