#include "stages/clip/register.h"

#include "stages/clip/encode_image.h"
#include "stages/clip/encode_text.h"
#include "stages/common/stage_library.h"

namespace embedflow {

void register_clip_stages(Registry& registry) {
  add_stage_from_library(registry, encode_clip_image_schema(), "model_stages");
  add_stage_from_library(registry, encode_clip_text_schema(), "model_stages");
}

}  // namespace embedflow
