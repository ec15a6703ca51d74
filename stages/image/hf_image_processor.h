// Hugging Face image processors (CLIPImageProcessor, ViTImageProcessor, BitImageProcessor) in
// C++: resize (the shorter side, or to an exact size), center crop, rescale, normalise, as a
// model folder's preprocessor_config.json says (models/image_processor.h): the preprocessing
// transformers and sentence-transformers users get, pixel for pixel. Torch-free.
//
// Resampling: Hugging Face hands the image to PIL, so the default reproduces PIL's
// Image.resize(BILINEAR or BICUBIC) exactly (separable kernels widened on downscaling,
// coefficients in 22-bit fixed point, each pass rounded to uint8), and the crop offsets are
// floor((H - h) / 2) as in transformers' center_crop. `Resample::Torchvision` instead uses
// embedflow's torchvision tensor-path transforms (stages/image/transforms.h), for pipelines
// prepared that way.
#pragma once

#include "embedflow/tensor.h"
#include "models/image_processor.h"

namespace embedflow::image {

enum class Resample { Pil, Torchvision };

// PIL Image.resize((out_w, out_h), filter) of u8 [H, W, 3].
Tensor pil_resize(const Tensor& rgb_u8, int out_h, int out_w,
                  models::ImageProcessorConfig::Filter filter);

// u8 [H, W, C] with C = 1 (gray), 3 (RGB) or 4 (RGBA, alpha dropped as PIL's convert("RGB"))
// → f32 [3, h, w] ready for a vision model. Throws std::invalid_argument naming the shape when
// the tensor is not an image.
Tensor hf_preprocess(const Tensor& image_u8, const models::ImageProcessorConfig& config,
                     Resample resample = Resample::Pil);

}  // namespace embedflow::image
