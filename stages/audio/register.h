#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/audio/ to the registry.
void register_audio_stages(Registry& registry);

}  // namespace embedflow
