#include "stages/clip/register.h"

namespace embedflow {

void register_clip_stages(Registry& registry) { (void)registry; }

}  // namespace embedflow
