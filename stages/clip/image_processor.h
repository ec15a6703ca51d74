// CLIPImageProcessor (transformers) in C++: resize the shorter side bicubic, center crop, rescale,
// normalise — the preprocessing sentence-transformers and transformers users get, pixel for pixel.
// Torch-free.
//
// Resampling: Hugging Face hands the image to PIL, so the default reproduces PIL's
// Image.resize(BICUBIC) exactly (separable a = -0.5 kernel widened on downscaling, coefficients
// in 22-bit fixed point, each pass rounded to uint8), and the crop offsets are floor((H - h) / 2)
// as in transformers' center_crop. `Resample::Torchvision` instead uses embedflow's torchvision
// tensor-path transforms (stages/image/transforms.h), for pipelines prepared that way.
#pragma once

#include "embedflow/tensor.h"
#include "models/clip.h"

namespace embedflow::clip {

enum class Resample { Pil, Torchvision };

// PIL Image.resize((out_w, out_h), Image.BICUBIC) of u8 [H, W, 3].
Tensor pil_resize_bicubic(const Tensor& rgb_u8, int out_h, int out_w);

// u8 [H, W, C] with C = 1 (gray), 3 (RGB) or 4 (RGBA, alpha dropped as PIL's convert("RGB"))
// → f32 [3, crop_h, crop_w] ready for the vision tower. Throws std::invalid_argument naming the
// shape when the tensor is not an image.
Tensor clip_preprocess(const Tensor& image_u8, const models::ClipImageProcessorConfig& config,
                       Resample resample = Resample::Pil);

}  // namespace embedflow::clip
