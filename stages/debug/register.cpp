#include "stages/debug/register.h"

namespace embedflow {

void register_debug_stages(Registry& registry) { (void)registry; }

}  // namespace embedflow
