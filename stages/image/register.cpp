#include "stages/image/register.h"

#include "stages/common/stage_library.h"
#include "stages/image/encode.h"
#include "stages/image/load.h"
#include "stages/image/preprocess.h"

namespace embedflow {

void register_image_stages(Registry& registry) {
  add_stage_from_library(registry, image_load_schema(), "image_decoding");
  add_stage<ImagePreprocessStage>(registry, image_preprocess_schema());
  add_stage_from_library(registry, encode_image_schema(), "model_stages");
}

}  // namespace embedflow
