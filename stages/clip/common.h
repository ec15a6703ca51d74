// Helpers shared by the two CLIP encoder stages.
#pragma once

#include <memory>
#include <string>

#include "embedflow/item.h"
#include "embedflow/params.h"
#include "embedflow/schema.h"
#include "models/clip.h"

namespace embedflow::clip {

// Loads (or shares) the model named by the `model` param; a load failure becomes a ConfigError
// located at that param.
std::shared_ptr<const models::ClipModel> open_model(const Params& params);

// Marks `out` as failed by `stage` with `message`.
void fail_item(Item& out, const std::string& stage, const std::string& message);

// Row `row` of f32 [B, D] as an Embedding tensor [D], L2-normalised when asked (as
// torch.nn.functional.normalize: x / max(‖x‖, 1e-12)).
Tensor embedding_row(const Tensor& batch, int64_t row, bool normalize);

// What both encoder stages declare alike: the `model` param (first) and `normalize` (last)
// around the stage's own params, batch 32, one call at a time, model threads.
void add_encoder_contract(StageSchema& schema, std::vector<ParamSpec> own_params);

}  // namespace embedflow::clip
