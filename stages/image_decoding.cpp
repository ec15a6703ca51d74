// The entry point of libembedflow_image_decoding.so: image.load, whose decoders are OpenCV's
// imgcodecs, loaded on demand (stages/common/stage_library.h). Its schema is registered by
// stages/image/register.cpp without it.
#include "stages/common/stage_library.h"
#include "stages/image/load.h"

extern "C" const embedflow::StageLibrary* embedflow_image_decoding() {
  using namespace embedflow;
  static const StageLibrary library = [] {
    StageLibrary l;
    add_factory<ImageLoadStage>(l, image_load_schema());
    return l;
  }();
  return &library;
}
