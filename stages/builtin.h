// The stage types that ship with embedflow.
#pragma once

#include "embedflow/registry.h"

namespace embedflow {

void register_builtin_stages(Registry& registry);

}  // namespace embedflow
