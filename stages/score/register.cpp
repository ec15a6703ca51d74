#include "stages/score/register.h"

namespace embedflow {

void register_score_stages(Registry& registry) { (void)registry; }

}  // namespace embedflow
