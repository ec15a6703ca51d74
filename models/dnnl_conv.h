// One convolution on oneDNN's primitive, reading and writing dense channels-last (NHWC) floats,
// with its bias, an optional residual sum and ReLU inside the primitive (post-ops), so the output
// is written once. ResNet's 1x1 and stem convolutions, and ResNeXt's grouped ones, run here
// (conv_engine.h).
//
// Why not libtorch's prepacked op (mkldnn_prepacked::conv2d_run), used before: it packs the
// weights for the input size given at load, and for any other size reorders them again on every
// call. ResNet-50 spent ~10% of a one-image forward pass (and ~3% at 8 images) in those
// reorders. Here a primitive and its packed weights are made per input shape, on first use, and
// kept: a run sees one or two shapes (its batch, the last partial batch).
//
// Torch-free; only with libdnnl-dev (EMBEDFLOW_HAVE_DNNL).
#pragma once

#include <cstdint>
#include <memory>

namespace embedflow::models {

class DnnlConv {
 public:
  // weight [k][c / groups][kh][kw] (OIHW), bias [k]: copied. Square kernels (kh == kw).
  DnnlConv(const float* weight, const float* bias, int64_t k, int64_t c, int64_t kh, int64_t kw,
           int64_t stride, int64_t padding, int64_t groups);
  ~DnnlConv();
  DnnlConv(const DnnlConv&) = delete;
  DnnlConv& operator=(const DnnlConv&) = delete;

  int64_t out_channels() const;
  // The output's height (width) for an input's height (width).
  int64_t out_size(int64_t in) const;
  // y [n, oh, ow, k] = relu?(conv(x [n, h, w, c]) + bias (+ residual [n, oh, ow, k])).
  // Thread-safe; uses the intra-op threads (OpenMP), or the calling thread alone inside a
  // parallel region.
  void run(const float* x, int64_t n, int64_t h, int64_t w, const float* residual, bool relu,
           float* y) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedflow::models
