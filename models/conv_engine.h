// ResNet's "winograd" engine (the default): its convolutions on dense channels-last (NHWC) float
// tensors, each by what measured fastest for its shape, and the NHWC steps around them. The
// hand-written kernels it runs are torch-free, in conv_kernels.h.
//
// Includes torch: only model .cpp files include this header.
#pragma once

#include <cstdint>
#include <memory>

#include <torch/torch.h>

namespace embedflow::models {

// One convolution with its bias (BatchNorm folded in), optionally followed by a residual add and
// a ReLU, applied while the output is in cache.
class FastConv {
 public:
  // groups > 1 (ResNeXt's 3x3): oneDNN's grouped kernels.
  FastConv(const torch::Tensor& weight, const torch::Tensor& bias, int64_t stride, int64_t padding,
           int64_t groups = 1);
  // x: dense channels-last f32; residual (same shape as the output) or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual, bool relu) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;  // shared by copies, as the tensors it holds would be
};

// Whether this build has the engine: its stem, 1x1 and grouped convolutions are oneDNN
// primitives (libdnnl-dev at build time).
bool fast_conv_available();

// A contiguous NCHW batch → dense NHWC.
torch::Tensor to_nhwc(const torch::Tensor& x);

// max_pool2d(x, 3, stride 2, padding 1) on dense NHWC.
torch::Tensor max_pool_3x3s2_nhwc(const torch::Tensor& x);

}  // namespace embedflow::models
