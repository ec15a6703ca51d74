// Taps: `tap: true` on a stage also records its output, so a drift can be traced to the stage
// where it starts.
#pragma once

#include <string>
#include <vector>

#include "embedflow/config.h"
#include "embedflow/registry.h"

namespace embedflow::regression {

// The id of the writer added for tapped stage `stage_id` ("tap:<id>"), as reports name it.
std::string tap_writer_id(const std::string& stage_id);

// Adds one writer per tapped stage, writing under `<output dir>/taps/`: write.npy (stacked for
// embeddings, a file per item for other tensors, whose shapes may differ; dtype kept) or
// write.jsonl for texts and records. The writers are marked StageConfig::generated, so the run
// identity leaves them out (they follow from `tap`). Returns their ids; throws ConfigError for a
// tap on a writer.
std::vector<std::string> add_tap_writers(PipelineConfig& config, const Registry& registry);

}  // namespace embedflow::regression
