#include "stages/score/register.h"

#include "stages/common/stage_library.h"
#include "stages/score/cosine.h"

namespace embedflow {

void register_score_stages(Registry& registry) {
  add_stage_from_library(registry, score_cosine_schema(), "model_stages");
}

}  // namespace embedflow
