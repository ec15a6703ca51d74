#include "stages/audio/register.h"

namespace embedflow {

void register_audio_stages(Registry& registry) { (void)registry; }

}  // namespace embedflow
