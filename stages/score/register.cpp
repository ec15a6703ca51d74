#include "stages/score/register.h"

#include "stages/score/cosine.h"

namespace embedflow {

void register_score_stages(Registry& registry) {
  add_stage<ScoreCosine>(registry, score_cosine_schema());
}

}  // namespace embedflow
