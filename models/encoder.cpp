#include "models/encoder.h"

#include "models/safetensors.h"

namespace embedflow::models {

void check_image_batch(const Tensor& images, const std::string& who) {
  if (images.dtype() != DType::F32 || images.ndim() != 4 || images.dim(1) != 3)
    throw ModelError(who + ": expected an f32 batch [B, 3, H, W], got " +
                     std::string(dtype_name(images.dtype())) + " " + images.shape_str());
}

}  // namespace embedflow::models
