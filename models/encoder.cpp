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
  if (name == "bf16") return Precision::Bf16;
  throw ModelError(where + ": precision '" + name + "' is not supported (" + kPrecisionNames + ")");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::F32:
      return "fp32";
    case Precision::Int8:
      return "int8";
    case Precision::Bf16:
      return "bf16";
  }
  return "?";
}

}  // namespace embedflow::models
