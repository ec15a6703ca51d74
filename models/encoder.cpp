#include "models/encoder.h"

#include "models/safetensors.h"

namespace embedflow::models {

void check_image_batch(const Tensor& images, const std::string& who) {
  if (images.dtype() != DType::F32 || images.ndim() != 4 || images.dim(1) != 3)
    throw ModelError(who + ": expected an f32 batch [B, 3, H, W], got " +
                     std::string(dtype_name(images.dtype())) + " " + images.shape_str());
}

Precision precision_named(const std::string& name, const std::string& where) {
  if (name == "fp32") return Precision::F32;
  if (name == "int8") return Precision::Int8;
  throw ModelError(where + ": precision '" + name + "' is not supported (fp32 or int8)");
}

const char* precision_name(Precision p) {
  return p == Precision::Int8 ? "int8" : "fp32";
}

}  // namespace embedflow::models
