// The entry point of libembedflow_model_stages.so: the stages that run models (and so
// libtorch), loaded on demand (stages/common/stage_library.h). Their schemas are registered
// torch-free by each domain's register.cpp.
#include "models/inspect.h"
#include "models/torch_runtime.h"
#include "stages/clip/encode_image.h"
#include "stages/clip/encode_text.h"
#include "stages/common/stage_library.h"
#include "stages/image/encode.h"
#include "stages/text/encode_text.h"

extern "C" const embedflow::StageLibrary* embedflow_model_stages() {
  using namespace embedflow;
  static const StageLibrary library = [] {
    StageLibrary l;
    add_factory<EncodeText>(l, encode_text_schema());
    add_factory<EncodeImageStage>(l, encode_image_schema());
    add_factory<ClipImageEncodeStage>(l, encode_clip_image_schema());
    add_factory<ClipTextEncodeStage>(l, encode_clip_text_schema());
    l.functions["inspect"] = [](const std::string& path) { return models::inspect_model(path); };
    l.functions["runtime"] = [](const std::string&) { return models::torch_build_summary(); };
    return l;
  }();
  return &library;
}
