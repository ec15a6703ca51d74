#include "stages/image/register.h"

#include "stages/image/encode.h"
#include "stages/image/load.h"
#include "stages/image/preprocess.h"

namespace embedflow {

void register_image_stages(Registry& registry) {
  add_stage<ImageLoadStage>(registry, image_load_schema());
  add_stage<ImagePreprocessStage>(registry, image_preprocess_schema());
  add_stage<EncodeImageStage>(registry, encode_image_schema());
}

}  // namespace embedflow
