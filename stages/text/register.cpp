#include "stages/text/register.h"

namespace embedflow {

void register_text_stages(Registry& registry) { (void)registry; }

}  // namespace embedflow
