// Image transforms with torchvision's semantics (the tensor path of
// torchvision.transforms.functional, v0.14), reusable by every stage that prepares images for an
// encoder. Torch-free.
//
// Parity: resize() reimplements torch's separable resampling (the antialiased kernel torchvision
// uses with antialias=True, and upsample_bilinear2d / upsample_bicubic2d / nearest without it),
// in float, then rounds half-to-even as torchvision does for uint8. Against torchvision's tensor
// path the outputs are equal except for rare ±1 steps where float summation order puts a value
// on the other side of a .5: measured in tests/image/transforms_test.cpp, max 1 level on
// ≤0.07% of values with antialias, ≤0.7% without. PIL's resize differs more: it rounds the
// intermediate pass to uint8 with fixed-point weights (pixels differ by a few levels; see the
// figure in the image.preprocess docs).
#pragma once

#include <optional>

#include "embedflow/tensor.h"
#include "stages/common/normalization.h"

namespace embedflow::image {

enum class Interpolation { Nearest, Bilinear, Bicubic };

// "nearest", "bilinear", "bicubic"; throws std::invalid_argument otherwise.
Interpolation interpolation_from_name(const std::string& name);

// u8 [H, W, 3] → u8 [out_h, out_w, 3]. `antialias` widens the filter on downscaling like
// torchvision (antialias=True) and PIL; ignored for Nearest.
Tensor resize(const Tensor& rgb_u8, int out_h, int out_w, Interpolation interp, bool antialias);
// torchvision Resize(size): the shorter side becomes `size`, the longer one is scaled and
// truncated (int(size * long / short)).
Tensor resize_shorter_side(const Tensor& rgb_u8, int size, Interpolation interp, bool antialias);
// The output size resize_shorter_side() picks, {height, width}.
std::pair<int, int> shorter_side_size(int h, int w, int size);
// center_crop(resize(rgb_u8, out_h, out_w, ...), crop_h, crop_w), equal value for value, computing
// only the cropped window of the resize.
Tensor resize_center_crop(const Tensor& rgb_u8, int out_h, int out_w, int crop_h, int crop_w,
                          Interpolation interp, bool antialias);
// torchvision CenterCrop: offsets round((H - h) / 2) half-to-even; zero-padded when the crop is
// larger than the image. u8 or f32 [H, W, C].
Tensor center_crop(const Tensor& hwc, int crop_h, int crop_w);
// x/255, then (x - mean)/std per channel when given → f32 [3, H, W].
Tensor to_normalized_chw(const Tensor& rgb_u8, const std::optional<MeanStd>& mean_std);

// The same operations on f32 [C, H, W] tensors (e.g. spectrogram images); no rounding.
Tensor resize_chw(const Tensor& chw_f32, int out_h, int out_w, Interpolation interp,
                  bool antialias);
Tensor center_crop_chw(const Tensor& chw_f32, int crop_h, int crop_w);

}  // namespace embedflow::image
