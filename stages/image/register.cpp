#include "stages/image/register.h"

namespace embedflow {

void register_image_stages(Registry& registry) { (void)registry; }

}  // namespace embedflow
