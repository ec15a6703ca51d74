// The torch-free parts of ResNet's Winograd F(4x4, 3x3) and F(2x2, 3x3) convolutions on
// channels-last (NHWC) float tensors (conv_engine.cpp runs the GEMMs between them): the filter
// transform, done once at load, and the per-tile input and output transforms. Those are a few adds
// per value over 64 channels at a time: the AVX2+FMA build runs them ~2x faster than the x86-64
// baseline build, so they are compiled once per CPU level from conv_kernels_impl.h and picked at
// run time (embedflow/cpu.h).
#pragma once

#include <algorithm>
#include <cstdint>

#include "embedflow/cpu.h"

namespace embedflow::models::conv_kernels {

// What the Winograd transforms of one convolution call read and write (NHWC, float).
struct WinoJob {
  const float* x;         // input [n, h, w, c]
  const float* residual;  // [n, h, w, k] or null
  const float* bias;      // [k]
  float* y;               // output [n, h, w, k]
  int64_t h, w, th, tw, c, k;
  bool relu;
};

struct Kernels {
  const char* build;  // the level this table was compiled for (embedflow/cpu.h's names)
  // Tiles [t0, t1) → v[p][t - first][c], `stride` tiles apart between the 36 positions p: the
  // GEMMs' inputs, V = Bᵀ d B of each 6x6 input tile d.
  void (*wino_input)(const WinoJob& j, int64_t t0, int64_t t1, float* v, int64_t stride,
                     int64_t first);
  // m[p][t - first][k] (`stride` tiles apart between positions) → the 4x4 outputs Aᵀ M A of
  // tiles [t0, t1) with bias, residual and ReLU; parts of edge tiles outside the image are
  // dropped.
  void (*wino_output)(const WinoJob& j, int64_t t0, int64_t t1, const float* m, int64_t stride,
                      int64_t first);
  // The same for F(2x2, 3x3): 4x4 input tiles two pixels apart, 16 positions, 2x2 outputs (th,
  // tw count 2x2 tiles).
  void (*wino2_input)(const WinoJob& j, int64_t t0, int64_t t1, float* v, int64_t stride,
                      int64_t first);
  void (*wino2_output)(const WinoJob& j, int64_t t0, int64_t t1, const float* m, int64_t stride,
                       int64_t first);
};

// The build for `level` (by default the level in effect).
const Kernels& table(cpu::Level level = cpu::active_level());

// The filter transform for input channel `channel` of weights w [k][c][3][3]:
// u[p = 6i + q][channel][j] = (G g Gᵀ)[i][q] of filter g = w[j][channel], for every output
// channel j, in double and rounded once (u is [36][c][k]).
void winograd_filter(const float* w, int64_t k, int64_t c, int64_t channel, float* u);
// The same for F(2x2, 3x3): u[p = 4i + q][channel][j] (u is [16][c][k]).
void winograd2_filter(const float* w, int64_t k, int64_t c, int64_t channel, float* u);

// y = relu?(y + bias + residual) over n values of one output row (residual may be null).
EMBEDFLOW_KERNEL_INLINE void epilogue_row(float* y, const float* bias, const float* residual,
                                          bool relu, int64_t n) {
  if (residual) {
    for (int64_t j = 0; j < n; ++j) y[j] += bias[j] + residual[j];
  } else {
    for (int64_t j = 0; j < n; ++j) y[j] += bias[j];
  }
  if (relu)
    for (int64_t j = 0; j < n; ++j) y[j] = std::max(y[j], 0.0f);
}

}  // namespace embedflow::models::conv_kernels
