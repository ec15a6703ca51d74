#include "stages/clip/register.h"

#include "stages/clip/encode_image.h"
#include "stages/clip/encode_text.h"

namespace embedflow {

void register_clip_stages(Registry& registry) {
  add_stage<ClipImageEncodeStage>(registry, encode_clip_image_schema());
  add_stage<ClipTextEncodeStage>(registry, encode_clip_text_schema());
}

}  // namespace embedflow
