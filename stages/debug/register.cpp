#include "stages/debug/register.h"

#include "stages/debug/debug_delay.h"

namespace embedflow {

void register_debug_stages(Registry& registry) {
  add_stage<DebugDelay>(registry, debug_delay_schema());
}

}  // namespace embedflow
