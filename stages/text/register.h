#pragma once

#include "embedflow/registry.h"

namespace embedflow {

// Adds the stage types under stages/text/ to the registry.
void register_text_stages(Registry& registry);
// Adds text.stats only (library embedflow_stages_text_stats, without libtorch).
void register_text_stats_stage(Registry& registry);

}  // namespace embedflow
