#include "stages/io/register.h"

namespace embedflow {

void register_io_stages(Registry& registry) { (void)registry; }

}  // namespace embedflow
