// What the two CLIP encoder stages declare alike.
#pragma once

#include <vector>

#include "embedflow/schema.h"

namespace embedflow::clip {

// The `model` param (first), then the stage's own params, `precision` and `normalize`; batch 32,
// one call at a time, model threads.
void add_encoder_contract(StageSchema& schema, std::vector<ParamSpec> own_params);

}  // namespace embedflow::clip
