// ResNet as in torchvision.models.resnet (v1.5: the stride of a Bottleneck sits on its 3x3
// convolution), with torchvision's module names so checkpoints from torchvision and timm load
// as they are published.
#include "models/resnet.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <optional>
#include <sstream>
#include <vector>

#include "embedflow/strings.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/torch_bridge.h"
#include "models/torch_runtime.h"
#include "models/weights.h"

// at::parallel_for is an inline `#pragma omp parallel` with this libtorch: without -fopenmp
// (models/CMakeLists.txt) the engine below would silently run on one thread.
#ifndef _OPENMP
#error "models/resnet.cpp must be compiled with -fopenmp"
#endif

namespace embedflow::models {

namespace {

namespace nn = torch::nn;

// ---------------------------------------------------------------------------------------------
// The "winograd" engine: ResNet's convolutions on dense channels-last (NHWC) float tensors.
// 3x3 stride-1 convolutions (most of ResNet-18/34's work, ~45% of ResNet-50's) use Winograd
// F(4x4, 3x3): 36 GEMMs over channels on 6x6 input tiles instead of 9 taps per output, 4x fewer
// multiplications, with a float32 error of ~1e-6 of the largest output (tests/image check whole
// networks against torchvision). The strided 3x3 ones are an im2col gather + GEMM, the 1x1 ones
// oneDNN's NHWC kernels (see FastConv). Bias, residual add and ReLU are applied to each output
// block while it is in cache. GEMMs go to the BLAS libtorch loads (OpenBLAS), single-threaded
// inside our own parallel regions (OpenBLAS runs one thread when called in one).

// The CBLAS entry point, declared here: libblas.so.3 exports it (OpenBLAS and reference BLAS
// alike) but the header ships only with a -dev package. Enum values as in cblas.h.
extern "C" void cblas_sgemm(int layout, int transa, int transb, int m, int n, int k, float alpha,
                            const float* a, int lda, const float* b, int ldb, float beta, float* c,
                            int ldc);

// Row-major C[m x n] = A[m x k] · B[k x n].
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* c, int64_t ldc) {
  constexpr int kRowMajor = 101, kNoTrans = 111;
  cblas_sgemm(kRowMajor, kNoTrans, kNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f,
              c, static_cast<int>(ldc));
}

// Per-thread scratch that only grows: blocks of a layer are the same size, so after the first
// batch no thread allocates.
float* scratch(int slot, size_t floats) {
  thread_local std::array<std::vector<float>, 2> buffers;
  if (buffers[slot].size() < floats) buffers[slot].resize(floats);
  return buffers[slot].data();
}

// y = relu?(y + bias + residual) over `n` values of one output row block.
inline void epilogue_row(float* y, const float* bias, const float* residual, bool relu, int64_t k) {
  if (residual) {
    for (int64_t j = 0; j < k; ++j) y[j] += bias[j] + residual[j];
  } else {
    for (int64_t j = 0; j < k; ++j) y[j] += bias[j];
  }
  if (relu)
    for (int64_t j = 0; j < k; ++j) y[j] = std::max(y[j], 0.0f);
}

torch::Tensor empty_nhwc(int64_t n, int64_t c, int64_t h, int64_t w) {
  return torch::empty({n, c, h, w}, torch::TensorOptions()
                                        .dtype(torch::kFloat32)
                                        .memory_format(torch::MemoryFormat::ChannelsLast));
}

// Runs f(i) for every i in [0, n) on the intra-op threads, handing out items one at a time:
// when a thread is preempted (a pipeline's decoding stages share the cores with the model) the
// others take over its share instead of waiting for it at the end, as a static split would.
// f must not throw.
template <class F>
void parallel_items(int64_t n, const F& f) {
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), n);
  if (threads <= 1 || at::in_parallel_region()) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::atomic<int64_t> next{0};
  const int team = static_cast<int>(threads);
#pragma omp parallel num_threads(team)
  for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) f(i);
}

// How many blocks to cut `count` rows into: about `ideal` rows each (what fits the caches), but
// at least 4 per thread when there is enough work, so that parallel_items can balance, and
// never under `min_block` rows.
int64_t block_count(int64_t count, int64_t ideal, int64_t min_block) {
  const int64_t most = std::max<int64_t>(1, count / min_block);
  const int64_t blocks = std::max((count + ideal - 1) / ideal, 4 * int64_t{at::get_num_threads()});
  return std::min(blocks, most);
}

// A convolution lowered to GEMM: 1x1 stride 1 reads the NHWC input rows in place; other shapes
// gather (im2col) a block of output positions' receptive fields first.
class GemmConv {
 public:
  GemmConv(const torch::Tensor& weight, const torch::Tensor& bias, int64_t stride, int64_t padding)
      : k_(weight.size(0)),
        c_(weight.size(1)),
        kh_(weight.size(2)),
        kw_(weight.size(3)),
        stride_(stride),
        pad_(padding),
        // [kh, kw, C, K]: row (ky, kx, c) of the im2col matrix meets column k.
        w_(weight.permute({2, 3, 1, 0}).contiguous()),
        bias_(bias.contiguous()) {}

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual, bool relu) const {
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    const int64_t oh = (h + 2 * pad_ - kh_) / stride_ + 1, ow = (w + 2 * pad_ - kw_) / stride_ + 1;
    torch::Tensor y = empty_nhwc(n, k_, oh, ow);
    const float* src = x.data_ptr<float>();
    const float* wt = w_.data_ptr<float>();
    const float* bias = bias_.data_ptr<float>();
    const float* res = residual.defined() ? residual.data_ptr<float>() : nullptr;
    float* dst = y.data_ptr<float>();
    const int64_t rows = n * oh * ow, cols = kh_ * kw_ * c_;
    const bool direct = kh_ == 1 && kw_ == 1 && stride_ == 1 && pad_ == 0;
    // ~1 MiB of gathered rows + output rows per block, and >= 64 rows so that the weight
    // matrix, re-read per block, costs little next to the block's multiply-adds.
    const int64_t ideal =
        std::max<int64_t>(64, (int64_t{1} << 20) / (4 * ((direct ? 0 : cols) + k_)));
    const int64_t blocks = block_count(rows, ideal, 16);
    parallel_items(blocks, [&](int64_t b) {
      const int64_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
      const float* a = src + r0 * c_;
      if (!direct) {
        float* g = scratch(0, static_cast<size_t>((r1 - r0) * cols));
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t img = r / (oh * ow), oy = (r / ow) % oh, ox = r % ow;
          float* row = g + (r - r0) * cols;
          for (int64_t ky = 0; ky < kh_; ++ky) {
            const int64_t iy = oy * stride_ - pad_ + ky;
            for (int64_t kx = 0; kx < kw_; ++kx) {
              const int64_t ix = ox * stride_ - pad_ + kx;
              float* tap = row + (ky * kw_ + kx) * c_;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                std::fill(tap, tap + c_, 0.0f);
              else
                std::copy_n(src + ((img * h + iy) * w + ix) * c_, c_, tap);
            }
          }
        }
        a = g;
      }
      gemm(r1 - r0, k_, cols, a, cols, wt, k_, dst + r0 * k_, k_);
      for (int64_t r = r0; r < r1; ++r)
        epilogue_row(dst + r * k_, bias, res ? res + r * k_ : nullptr, relu, k_);
    });
    return y;
  }

 private:
  int64_t k_, c_, kh_, kw_, stride_, pad_;
  torch::Tensor w_, bias_;
};

// What the Winograd transforms of one convolution call read and write (NHWC, float).
struct WinoJob {
  const float* x;         // input [n, h, w, c]
  const float* residual;  // [n, h, w, k] or null
  const float* bias;      // [k]
  float* y;               // output [n, h, w, k]
  int64_t h, w, th, tw, c, k;
  bool relu;
};
constexpr int64_t kWinoVec = 64;  // channels transformed together (a few cache lines)

// Tiles [t0, t1) → v[p][t - first][c], `stride` tiles apart between positions p.
[[gnu::always_inline]] inline void wino_input_body(const WinoJob& j, int64_t t0, int64_t t1,
                                                   float* v, int64_t stride, int64_t first) {
  alignas(64) float zeros[kWinoVec] = {};
  alignas(64) float tmp[6][6][kWinoVec];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t img = t / (j.th * j.tw), ty = (t / j.tw) % j.th, tx = t % j.tw;
    for (int64_t c0 = 0; c0 < j.c; c0 += kWinoVec) {
      const int64_t cn = std::min(kWinoVec, j.c - c0);
      // Rows of the tile: Bᵀ applied down each column (over the tile's 6 rows).
      for (int s = 0; s < 6; ++s) {
        const int64_t ix = tx * 4 - 1 + s;
        const float* d[6];
        for (int r = 0; r < 6; ++r) {
          const int64_t iy = ty * 4 - 1 + r;
          d[r] = (iy < 0 || iy >= j.h || ix < 0 || ix >= j.w)
                     ? zeros
                     : j.x + ((img * j.h + iy) * j.w + ix) * j.c + c0;
        }
        for (int64_t c = 0; c < cn; ++c) {
          const float d0 = d[0][c], d1 = d[1][c], d2 = d[2][c], d3 = d[3][c], d4 = d[4][c],
                      d5 = d[5][c];
          tmp[0][s][c] = 4 * d0 - 5 * d2 + d4;
          tmp[1][s][c] = -4 * (d1 + d2) + d3 + d4;
          tmp[2][s][c] = 4 * (d1 - d2) - d3 + d4;
          tmp[3][s][c] = 2 * (d3 - d1) - d2 + d4;
          tmp[4][s][c] = 2 * (d1 - d3) - d2 + d4;
          tmp[5][s][c] = 4 * d1 - 5 * d3 + d5;
        }
      }
      // Then along each row, written to the 36 GEMM inputs.
      const int64_t row = t - first;
      for (int r = 0; r < 6; ++r) {
        float* out[6];
        for (int q = 0; q < 6; ++q) out[q] = v + ((r * 6 + q) * stride + row) * j.c + c0;
        const float* e0 = tmp[r][0];
        const float* e1 = tmp[r][1];
        const float* e2 = tmp[r][2];
        const float* e3 = tmp[r][3];
        const float* e4 = tmp[r][4];
        const float* e5 = tmp[r][5];
        for (int64_t c = 0; c < cn; ++c) {
          out[0][c] = 4 * e0[c] - 5 * e2[c] + e4[c];
          out[1][c] = -4 * (e1[c] + e2[c]) + e3[c] + e4[c];
          out[2][c] = 4 * (e1[c] - e2[c]) - e3[c] + e4[c];
          out[3][c] = 2 * (e3[c] - e1[c]) - e2[c] + e4[c];
          out[4][c] = 2 * (e1[c] - e3[c]) - e2[c] + e4[c];
          out[5][c] = 4 * e1[c] - 5 * e3[c] + e5[c];
        }
      }
    }
  }
}

// m[p][t - first][k] (`stride` tiles apart between positions) → the 4x4 outputs of tiles
// [t0, t1) with bias, residual and ReLU; parts of edge tiles outside the image are dropped.
[[gnu::always_inline]] inline void wino_output_body(const WinoJob& j, int64_t t0, int64_t t1,
                                                    const float* m, int64_t stride, int64_t first) {
  alignas(64) float tmp[4][6][kWinoVec];
  alignas(64) float o[4][kWinoVec];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t img = t / (j.th * j.tw), ty = (t / j.tw) % j.th, tx = t % j.tw;
    const int64_t row = t - first;
    for (int64_t k0 = 0; k0 < j.k; k0 += kWinoVec) {
      const int64_t kn = std::min(kWinoVec, j.k - k0);
      // Aᵀ down each column q.
      for (int q = 0; q < 6; ++q) {
        const float* e[6];
        for (int r = 0; r < 6; ++r) e[r] = m + ((r * 6 + q) * stride + row) * j.k + k0;
        for (int64_t k = 0; k < kn; ++k) {
          const float m0 = e[0][k], m1 = e[1][k], m2 = e[2][k], m3 = e[3][k], m4 = e[4][k],
                      m5 = e[5][k];
          tmp[0][q][k] = m0 + m1 + m2 + m3 + m4;
          tmp[1][q][k] = m1 - m2 + 2 * (m3 - m4);
          tmp[2][q][k] = m1 + m2 + 4 * (m3 + m4);
          tmp[3][q][k] = m1 - m2 + 8 * (m3 - m4) + m5;
        }
      }
      for (int a = 0; a < 4; ++a) {
        const int64_t oy = ty * 4 + a;
        if (oy >= j.h) break;
        const float *e0 = tmp[a][0], *e1 = tmp[a][1], *e2 = tmp[a][2], *e3 = tmp[a][3],
                    *e4 = tmp[a][4], *e5 = tmp[a][5];
        for (int64_t k = 0; k < kn; ++k) {
          o[0][k] = e0[k] + e1[k] + e2[k] + e3[k] + e4[k];
          o[1][k] = e1[k] - e2[k] + 2 * (e3[k] - e4[k]);
          o[2][k] = e1[k] + e2[k] + 4 * (e3[k] + e4[k]);
          o[3][k] = e1[k] - e2[k] + 8 * (e3[k] - e4[k]) + e5[k];
        }
        for (int b = 0; b < 4; ++b) {
          const int64_t ox = tx * 4 + b;
          if (ox >= j.w) break;
          const int64_t at = ((img * j.h + oy) * j.w + ox) * j.k + k0;
          float* dst = j.y + at;
          std::copy_n(o[b], kn, dst);
          epilogue_row(dst, j.bias + k0, j.residual ? j.residual + at : nullptr, j.relu, kn);
        }
      }
    }
  }
}

using WinoInputFn = void (*)(const WinoJob&, int64_t, int64_t, float*, int64_t, int64_t);
using WinoOutputFn = void (*)(const WinoJob&, int64_t, int64_t, const float*, int64_t, int64_t);

void wino_input_generic(const WinoJob& j, int64_t t0, int64_t t1, float* v, int64_t stride,
                        int64_t first) {
  wino_input_body(j, t0, t1, v, stride, first);
}
void wino_output_generic(const WinoJob& j, int64_t t0, int64_t t1, const float* m, int64_t stride,
                         int64_t first) {
  wino_output_body(j, t0, t1, m, stride, first);
}

// The transforms are a few adds per value over 64 channels at a time: the same code compiled
// for AVX2+FMA runs them ~2x faster than the x86-64 baseline build, and is picked at run time.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) void wino_input_avx2(const WinoJob& j, int64_t t0, int64_t t1,
                                                         float* v, int64_t stride, int64_t first) {
  wino_input_body(j, t0, t1, v, stride, first);
}
__attribute__((target("avx2,fma"))) void wino_output_avx2(const WinoJob& j, int64_t t0, int64_t t1,
                                                          const float* m, int64_t stride,
                                                          int64_t first) {
  wino_output_body(j, t0, t1, m, stride, first);
}
#endif

struct WinoKernels {
  WinoInputFn input;
  WinoOutputFn output;
};

const WinoKernels& wino_kernels() {
  static const WinoKernels k = [] {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return WinoKernels{wino_input_avx2, wino_output_avx2};
#endif
    return WinoKernels{wino_input_generic, wino_output_generic};
  }();
  return k;
}

// 3x3, stride 1, padding 1 by Winograd F(4x4, 3x3) (Lavin & Gray 2015): each 6x6 input tile d
// becomes V = Bᵀ d B, each filter g becomes U = G g Gᵀ (once, at load), the 36 positions of the
// tiles are 36 independent GEMMs M = V · U over channels, and Aᵀ M A gives a 4x4 output tile.
class WinogradConv {
 public:
  WinogradConv(const torch::Tensor& weight, const torch::Tensor& bias)
      : k_(weight.size(0)), c_(weight.size(1)), bias_(bias.contiguous()) {
    static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                       {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                       {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                       {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                       {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                       {0, 0, 1}};
    const torch::Tensor wt = weight.contiguous();
    const float* src = wt.data_ptr<float>();
    u_ = torch::empty({36, c_, k_});
    float* u = u_.data_ptr<float>();
    // U[p = 6i + q][c][k] = (G g Gᵀ)[i][q] of filter g = w[k][c], in double, rounded once.
    // k innermost: the 36 rows written for one c advance together through memory.
    parallel_items(c_, [&](int64_t c) {
      for (int64_t k = 0; k < k_; ++k) {
        const float* g = src + (k * c_ + c) * 9;
        double gg[6][3];  // G g
        for (int i = 0; i < 6; ++i)
          for (int b = 0; b < 3; ++b)
            gg[i][b] = G[i][0] * g[b] + G[i][1] * g[3 + b] + G[i][2] * g[6 + b];
        for (int i = 0; i < 6; ++i)
          for (int q = 0; q < 6; ++q)
            u[((i * 6 + q) * c_ + c) * k_ + k] =
                static_cast<float>(gg[i][0] * G[q][0] + gg[i][1] * G[q][1] + gg[i][2] * G[q][2]);
      }
    });
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual, bool relu) const {
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    const int64_t th = (h + 3) / 4, tw = (w + 3) / 4, tiles = n * th * tw;
    torch::Tensor y = empty_nhwc(n, k_, h, w);
    const WinoJob job{x.data_ptr<float>(),
                      residual.defined() ? residual.data_ptr<float>() : nullptr,
                      bias_.data_ptr<float>(),
                      y.data_ptr<float>(),
                      h,
                      w,
                      th,
                      tw,
                      c_,
                      k_,
                      relu};
    const WinoKernels& kern = wino_kernels();
    const int64_t u_bytes = 36 * c_ * k_ * 4, vm_bytes = 36 * tiles * (c_ + k_) * 4;
    // Fused blocks of tiles (transform, GEMMs, output transform while in L2) re-read all of U
    // per block; when U is large next to the tiles (deep layers: few tiles, many channels), run
    // the three phases over all tiles instead so U is read once.
    // ~1 MiB of V and M per block (L2), and >= 16 tiles so the GEMMs stay efficient.
    const int64_t ideal = std::max<int64_t>(16, (int64_t{1} << 20) / (36 * 4 * (c_ + k_)));
    const int64_t blocks = block_count(tiles, ideal, 16);
    const float* u = u_.data_ptr<float>();
    if ((blocks - 1) * u_bytes < vm_bytes) {
      parallel_items(blocks, [&](int64_t b) {
        const int64_t t0 = tiles * b / blocks, t1 = tiles * (b + 1) / blocks, nt = t1 - t0;
        float* v = scratch(0, static_cast<size_t>(36 * nt * c_));
        float* m = scratch(1, static_cast<size_t>(36 * nt * k_));
        kern.input(job, t0, t1, v, nt, t0);
        for (int64_t p = 0; p < 36; ++p)
          gemm(nt, k_, c_, v + p * nt * c_, c_, u + p * c_ * k_, k_, m + p * nt * k_, k_);
        kern.output(job, t0, t1, m, nt, t0);
      });
      return y;
    }
    // The calling thread's scratch: the parallel regions below only read and write through it.
    float* v = scratch(0, static_cast<size_t>(36 * tiles * c_));
    float* m = scratch(1, static_cast<size_t>(36 * tiles * k_));
    constexpr int64_t kGroup = 8;  // tiles per work item of the transforms
    const int64_t groups = (tiles + kGroup - 1) / kGroup;
    parallel_items(groups, [&](int64_t g) {
      kern.input(job, g * kGroup, std::min(tiles, (g + 1) * kGroup), v, tiles, 0);
    });
    parallel_items(36, [&](int64_t p) {
      gemm(tiles, k_, c_, v + p * tiles * c_, c_, u + p * c_ * k_, k_, m + p * tiles * k_, k_);
    });
    parallel_items(groups, [&](int64_t g) {
      kern.output(job, g * kGroup, std::min(tiles, (g + 1) * kGroup), m, tiles, 0);
    });
    return y;
  }

 private:
  int64_t k_, c_;
  torch::Tensor bias_, u_;
};

// oneDNN on dense NHWC tensors through libtorch's prepacked convolution (the op behind
// torch.jit's mkldnn rewrite): the weight is reordered once for NHWC input, and a following
// ReLU runs inside the convolution.
class OneDnnNhwcConv {
 public:
  OneDnnNhwcConv(const torch::Tensor& weight, const torch::Tensor& bias, int64_t stride,
                 int64_t padding, bool relu)
      : relu_(relu) {
    static const auto prepack =
        c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn_prepacked::conv2d_prepack", "");
    torch::jit::Stack st;
    st.emplace_back(weight.contiguous(torch::MemoryFormat::ChannelsLast));
    st.emplace_back(bias);
    st.emplace_back(std::vector<int64_t>{stride, stride});
    st.emplace_back(std::vector<int64_t>{padding, padding});
    st.emplace_back(std::vector<int64_t>{1, 1});
    st.emplace_back(int64_t{1});
    // The input size only guides oneDNN's choice of weight layout for the NHWC kernels.
    st.emplace_back(std::vector<int64_t>{8, weight.size(1), 28, 28});
    st.emplace_back(std::string(relu ? "relu" : "none"));
    prepack.callBoxed(&st);
    ctx_ = st.back();
  }
  bool fused_relu() const { return relu_; }
  torch::Tensor forward(const torch::Tensor& x) const {
    static const auto run =
        c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn_prepacked::conv2d_run", "");
    torch::jit::Stack st;
    st.emplace_back(x);
    st.emplace_back(ctx_);
    run.callBoxed(&st);
    return st.back().toTensor();
  }

 private:
  bool relu_;
  c10::IValue ctx_;
};

// y = relu?(y + residual) in place, both dense and of one shape.
void add_relu_(torch::Tensor& y, const torch::Tensor& residual, bool relu) {
  float* d = y.data_ptr<float>();
  const float* r = residual.data_ptr<float>();
  constexpr int64_t kChunk = 1 << 14;
  const int64_t n = y.numel();
  parallel_items((n + kChunk - 1) / kChunk, [&](int64_t c) {
    const int64_t b = c * kChunk, e = std::min(n, b + kChunk);
    if (relu)
      for (int64_t i = b; i < e; ++i) d[i] = std::max(d[i] + r[i], 0.0f);
    else
      for (int64_t i = b; i < e; ++i) d[i] += r[i];
  });
}

// A contiguous NCHW batch → dense NHWC. ATen's strided copy (contiguous(ChannelsLast)) takes
// ~14 ms for 8 images of 3x224x224 on one core, ~5% of a resnet18 forward pass.
torch::Tensor to_nhwc(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const torch::Tensor src_t = x.contiguous();
  torch::Tensor y = empty_nhwc(n, c, h, w);
  const float* src = src_t.data_ptr<float>();
  float* dst = y.data_ptr<float>();
  parallel_items(n * h, [&](int64_t r) {
    const int64_t img = r / h, row = r % h;
    float* out = dst + r * w * c;
    for (int64_t k = 0; k < c; ++k) {
      const float* in = src + ((img * c + k) * h + row) * w;
      for (int64_t i = 0; i < w; ++i) out[i * c + k] = in[i];
    }
  });
  return y;
}

// max_pool2d(x, 3, stride 2, padding 1) on dense NHWC, all channels of a pixel at once (ATen's
// channels-last kernel also writes the int64 argmax indices).
torch::Tensor max_pool_3x3s2_nhwc(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1;
  torch::Tensor y = empty_nhwc(n, c, oh, ow);
  const float* src = x.data_ptr<float>();
  float* dst = y.data_ptr<float>();
  parallel_items(n * oh, [&](int64_t r) {
    const int64_t img = r / oh, oy = r % oh;
    const int64_t y0 = std::max<int64_t>(oy * 2 - 1, 0), y1 = std::min(oy * 2 + 2, h);
    for (int64_t ox = 0; ox < ow; ++ox) {
      const int64_t x0 = std::max<int64_t>(ox * 2 - 1, 0), x1 = std::min(ox * 2 + 2, w);
      float* out = dst + ((img * oh + oy) * ow + ox) * c;
      std::copy_n(src + ((img * h + y0) * w + x0) * c, c, out);
      for (int64_t iy = y0; iy < y1; ++iy)
        for (int64_t ix = x0; ix < x1; ++ix) {
          const float* in = src + ((img * h + iy) * w + ix) * c;
          for (int64_t k = 0; k < c; ++k) out[k] = std::max(out[k], in[k]);
        }
    }
  });
  return y;
}

// One convolution of the engine, by what measured fastest for its shape (bench/image, AVX2):
// Winograd for 3x3 stride 1; oneDNN's NHWC kernels for the stem and the 1x1 convolutions, ahead of
// OpenBLAS for ResNet's small input widths (K = 64..256 per GEMM row); im2col + GEMM for the
// strided 3x3, where oneDNN's NHWC kernel is ~1.7x slower than its blocked one.
class FastConv {
 public:
  FastConv(const torch::Tensor& weight, const torch::Tensor& bias, int64_t stride, int64_t padding,
           bool relu) {
    const int64_t kh = weight.size(2), kw = weight.size(3);
    if (kh == 3 && kw == 3 && stride == 1 && padding == 1)
      wino_.emplace(weight, bias);
    else if ((kh == 1 && kw == 1) || weight.size(1) < 8)  // 1x1, or the stem (3 channels)
      dnnl_.emplace(weight, bias, stride, padding, relu);
    else
      gemm_.emplace(weight, bias, stride, padding);
  }
  // x: dense channels-last f32; residual (same shape as the output) or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual, bool relu) const {
    if (wino_) return wino_->forward(x, residual, relu);
    if (gemm_) return gemm_->forward(x, residual, relu);
    torch::Tensor y = dnnl_->forward(x);
    if (residual.defined())
      add_relu_(y, residual, relu);
    else if (relu && !dnnl_->fused_relu())
      y.relu_();
    return y;
  }

 private:
  std::optional<WinogradConv> wino_;
  std::optional<GemmConv> gemm_;
  std::optional<OneDnnNhwcConv> dnnl_;
};

enum class Engine { ATen, OneDNN, Winograd };

// A convolution and the BatchNorm after it. Both are registered on the parent under
// torchvision's names (conv1/bn1, downsample.0/downsample.1). fold() bakes the BatchNorm into
// the convolution: w' = w·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε), which removes a full pass over the
// activations per layer and leaves the result equal up to float rounding.
//
// prepare() then readies the folded weight for an engine, once: for OneDNN it is reordered into
// the blocked layout oneDNN's kernels read (e.g. OIhw8i8o) for forward_onednn() on oneDNN
// tensors (nChw8c): what torch.jit.optimize_for_inference does (ATen's conv2d on strided
// tensors reorders the weight on every call, and its NHWC 3x3 kernels, oneDNN 2.6 on AVX2, run
// ~1.7x slower than the blocked ones); for Winograd it becomes a FastConv.
struct ConvBN {
  nn::Conv2d conv{nullptr};
  nn::BatchNorm2d bn{nullptr};
  int64_t stride = 1, padding = 0;
  torch::Tensor folded_bias;     // defined once folded
  torch::Tensor packed;          // OneDNN: the opaque oneDNN weight
  std::optional<FastConv> fast;  // Winograd

  ConvBN() = default;
  ConvBN(nn::Module& parent, const std::string& conv_name, const std::string& bn_name, int64_t in,
         int64_t out, int64_t kernel, int64_t stride_)
      : stride(stride_), padding(kernel / 2) {
    conv = parent.register_module(
        conv_name,
        nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false)));
    bn = parent.register_module(bn_name, nn::BatchNorm2d(out));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    if (folded_bias.defined()) return torch::conv2d(x, conv->weight, folded_bias, stride, padding);
    return bn->forward(conv->forward(x));
  }

  void fold(bool channels_last) {
    const torch::Tensor scale = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
    torch::Tensor w = conv->weight * scale.reshape({-1, 1, 1, 1});
    folded_bias = bn->bias - bn->running_mean * scale;
    conv->weight.set_data(channels_last ? w.contiguous(torch::MemoryFormat::ChannelsLast) : w);
  }

  // relu: a ReLU follows directly (no residual add first).
  void prepare(Engine engine, bool relu) {
    if (engine == Engine::OneDNN)
      packed = at::mkldnn_reorder_conv2d_weight(conv->weight.contiguous().to_mkldnn(),
                                                {padding, padding}, {stride, stride}, {1, 1}, 1);
    else if (engine == Engine::Winograd)
      fast.emplace(conv->weight, folded_bias, stride, padding, relu);
    else
      return;
    conv->weight.set_data(torch::empty({0}));  // only the prepared copy is read from now on
  }

  torch::Tensor forward_onednn(const torch::Tensor& x) const {
    return at::mkldnn_convolution(x, packed, folded_bias, {padding, padding}, {stride, stride},
                                  {1, 1}, 1);
  }
  torch::Tensor forward_fast(const torch::Tensor& x, const torch::Tensor& residual = {},
                             bool relu = false) const {
    return fast->forward(x, residual, relu);
  }
};

class Block : public nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  virtual void fold(bool channels_last) = 0;
  virtual void prepare(Engine engine) = 0;
  // x: a oneDNN tensor; ReLU and the residual add run in place on oneDNN tensors too, so
  // activations stay blocked from the stem to the pooling.
  virtual torch::Tensor forward_onednn(const torch::Tensor& x) const = 0;
  // x: dense channels-last; the residual add and ReLU happen inside the last convolution.
  virtual torch::Tensor forward_fast(const torch::Tensor& x) const = 0;
};

// The 1x1 projection on the shortcut when a block changes resolution or width.
std::optional<ConvBN> make_downsample(nn::Module& parent, int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return std::nullopt;
  auto seq = parent.register_module("downsample", nn::Sequential());
  ConvBN d;
  d.stride = stride;
  d.conv = nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
  d.bn = nn::BatchNorm2d(out);
  seq->push_back(d.conv);  // "downsample.0"
  seq->push_back(d.bn);    // "downsample.1"
  return d;
}

class BasicBlock : public Block {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride)
      : c1_(*this, "conv1", "bn1", inplanes, planes, 3, stride),
        c2_(*this, "conv2", "bn2", planes, planes, 3, 1),
        down_(make_downsample(*this, inplanes, planes * kExpansion, stride)) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor out = c1_.forward(x).relu_();
    out = c2_.forward(out);
    out += down_ ? down_->forward(x) : x;
    return out.relu_();
  }
  void fold(bool cl) override {
    c1_.fold(cl);
    c2_.fold(cl);
    if (down_) down_->fold(cl);
  }
  void prepare(Engine e) override {
    c1_.prepare(e, true);
    c2_.prepare(e, false);
    if (down_) down_->prepare(e, false);
  }
  torch::Tensor forward_onednn(const torch::Tensor& x) const override {
    torch::Tensor out = c1_.forward_onednn(x).relu_();
    out = c2_.forward_onednn(out);
    out.add_(down_ ? down_->forward_onednn(x) : x);
    return out.relu_();
  }
  torch::Tensor forward_fast(const torch::Tensor& x) const override {
    const torch::Tensor shortcut = down_ ? down_->forward_fast(x) : x;
    return c2_.forward_fast(c1_.forward_fast(x, {}, true), shortcut, true);
  }

 private:
  ConvBN c1_, c2_;
  std::optional<ConvBN> down_;
};

class Bottleneck : public Block {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride)
      : c1_(*this, "conv1", "bn1", inplanes, planes, 1, 1),
        c2_(*this, "conv2", "bn2", planes, planes, 3, stride),  // v1.5: stride on the 3x3
        c3_(*this, "conv3", "bn3", planes, planes * kExpansion, 1, 1),
        down_(make_downsample(*this, inplanes, planes * kExpansion, stride)) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor out = c1_.forward(x).relu_();
    out = c2_.forward(out).relu_();
    out = c3_.forward(out);
    out += down_ ? down_->forward(x) : x;
    return out.relu_();
  }
  void fold(bool cl) override {
    c1_.fold(cl);
    c2_.fold(cl);
    c3_.fold(cl);
    if (down_) down_->fold(cl);
  }
  void prepare(Engine e) override {
    c1_.prepare(e, true);
    c2_.prepare(e, true);
    c3_.prepare(e, false);
    if (down_) down_->prepare(e, false);
  }
  torch::Tensor forward_onednn(const torch::Tensor& x) const override {
    torch::Tensor out = c1_.forward_onednn(x).relu_();
    out = c2_.forward_onednn(out).relu_();
    out = c3_.forward_onednn(out);
    out.add_(down_ ? down_->forward_onednn(x) : x);
    return out.relu_();
  }
  torch::Tensor forward_fast(const torch::Tensor& x) const override {
    const torch::Tensor shortcut = down_ ? down_->forward_fast(x) : x;
    torch::Tensor out = c2_.forward_fast(c1_.forward_fast(x, {}, true), {}, true);
    return c3_.forward_fast(out, shortcut, true);
  }

 private:
  ConvBN c1_, c2_, c3_;
  std::optional<ConvBN> down_;
};

class ResNet : public nn::Module {
 public:
  // num_classes == 0: no fc layer (a headless checkpoint, or one whose fc is not needed).
  ResNet(const ResNetSpec& spec, int64_t num_classes) : stem_(*this, "conv1", "bn1", 3, 64, 7, 2) {
    const int64_t expansion = spec.bottleneck ? Bottleneck::kExpansion : BasicBlock::kExpansion;
    int64_t inplanes = 64;
    const std::array<int64_t, 4> widths = {64, 128, 256, 512};
    for (size_t l = 0; l < 4; ++l) {
      auto list = register_module("layer" + std::to_string(l + 1), nn::ModuleList());
      for (int64_t b = 0; b < spec.blocks[l]; ++b) {
        const int64_t stride = (l > 0 && b == 0) ? 2 : 1;
        std::shared_ptr<Block> block;
        if (spec.bottleneck)
          block = std::make_shared<Bottleneck>(inplanes, widths[l], stride);
        else
          block = std::make_shared<BasicBlock>(inplanes, widths[l], stride);
        list->push_back(block);
        layers_[l].push_back(block);
        inplanes = widths[l] * expansion;
      }
    }
    features_ = inplanes;
    if (num_classes > 0) fc_ = register_module("fc", nn::Linear(features_, num_classes));
  }

  // Runs up to `stop_after_layer` (1..4) and returns that feature map, or (0) the pooled
  // features, or (-1) the logits.
  torch::Tensor forward(torch::Tensor x, int stop_after_layer) {
    x = stem_.forward(x).relu_();
    x = torch::max_pool2d(x, 3, 2, 1);
    for (int l = 0; l < 4; ++l) {
      for (const auto& block : layers_[l]) x = block->forward(x);
      if (stop_after_layer == l + 1) return x;
    }
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    if (stop_after_layer == -1) x = fc_->forward(x);
    return x;
  }

  // forward() by an engine; needs fold_batchnorm() and prepare(engine) first. ReLU commutes
  // with max pooling, so it runs on the pooled stem output, a quarter of the size.
  torch::Tensor forward_onednn(const torch::Tensor& x_dense, int stop_after_layer) {
    torch::Tensor x = torch::max_pool2d(stem_.forward_onednn(x_dense.to_mkldnn()), 3, 2, 1);
    x.relu_();
    for (int l = 0; l < 4; ++l) {
      for (const auto& block : layers_[l]) x = block->forward_onednn(x);
      if (stop_after_layer == l + 1) return x.to_dense();
    }
    return head(torch::adaptive_avg_pool2d(x, {1, 1}).to_dense(), stop_after_layer);
  }
  torch::Tensor forward_fast(const torch::Tensor& x_nchw, int stop_after_layer) {
    torch::Tensor x = max_pool_3x3s2_nhwc(stem_.forward_fast(to_nhwc(x_nchw), {}, true));
    for (int l = 0; l < 4; ++l) {
      for (const auto& block : layers_[l]) x = block->forward_fast(x);
      if (stop_after_layer == l + 1) return x.contiguous();
    }
    return head(torch::adaptive_avg_pool2d(x, {1, 1}), stop_after_layer);
  }

  void fold_batchnorm(bool channels_last) {
    stem_.fold(channels_last);
    for (auto& layer : layers_)
      for (auto& block : layer) block->fold(channels_last);
  }

  void prepare(Engine engine) {
    stem_.prepare(engine, true);
    for (auto& layer : layers_)
      for (auto& block : layer) block->prepare(engine);
  }

  // The most images per forward pass that keep the largest activation (the stem's output, or
  // layer1's: 16 floats per input pixel either way) under 30 MiB. glibc serves larger blocks
  // with a fresh mmap on every allocation, and page-faulting them in (kernel zeroing) took ~10%
  // of a resnet50 batch of 16; below its 32 MiB dynamic ceiling freed blocks are reused from
  // the heap. The kernels work per image or per tile, so results do not change.
  int64_t max_images_per_call(int64_t h, int64_t w) const {
    const int64_t h1 = (h - 1) / 2 + 1, w1 = (w - 1) / 2 + 1;    // stem: 7x7, stride 2, pad 3
    const int64_t h2 = (h1 - 1) / 2 + 1, w2 = (w1 - 1) / 2 + 1;  // max pool: 3x3, stride 2, pad 1
    const int64_t floats = std::max<int64_t>(64 * h1 * w1, features_ / 8 * h2 * w2);
    constexpr int64_t kBudget = int64_t{30} << 20;
    return std::max<int64_t>(1, kBudget / (floats * int64_t{sizeof(float)}));
  }

  // Pooled [B, C, 1, 1] → features, or logits.
  torch::Tensor head(const torch::Tensor& pooled, int stop_after_layer) {
    torch::Tensor x = pooled.flatten(1);
    if (stop_after_layer == -1) x = fc_->forward(x);
    return x;
  }

  int64_t features() const { return features_; }
  bool has_fc() const { return !fc_.is_empty(); }
  int64_t num_classes() const { return fc_.is_empty() ? 0 : fc_->options.out_features(); }
  int64_t channels_of_layer(int l) const { return features_ / 8 * (int64_t{1} << (l - 1)); }

 private:
  ConvBN stem_;
  std::array<std::vector<std::shared_ptr<Block>>, 4> layers_;
  nn::Linear fc_{nullptr};
  int64_t features_ = 0;
};

int layer_index(const std::string& layer) {
  if (layer == "pool") return 0;
  if (layer == "logits") return -1;
  for (int l = 1; l <= 4; ++l)
    if (layer == "layer" + std::to_string(l)) return l;
  throw ModelError("unknown layer '" + layer + "' (expected pool, logits, layer1 … layer4)");
}

// "auto" is Winograd for every architecture: it measured fastest for both resnet18 and resnet50
// (bench/image; the Bottleneck's 1x1 convolutions run on oneDNN's kernels either way).
Engine pick_engine(const ResNetOptions& o) {
  if (o.engine != "auto" && o.engine != "winograd" && o.engine != "onednn" && o.engine != "aten")
    throw ModelError("unknown engine '" + o.engine + "' (expected auto, winograd, onednn, aten)");
  if (o.engine == "aten" || !o.fold_batchnorm) return Engine::ATen;  // the others fold BatchNorm
  if (!at::hasMKLDNN()) {
    if (o.engine == "auto") return Engine::ATen;
    throw ModelError("engine '" + o.engine + "' needs a libtorch built with oneDNN (MKLDNN)");
  }
  return o.engine == "onednn" ? Engine::OneDNN : Engine::Winograd;
}

}  // namespace

const std::vector<ResNetSpec>& resnet_specs() {
  static const std::vector<ResNetSpec> specs = {{"resnet18", false, {2, 2, 2, 2}},
                                                {"resnet34", false, {3, 4, 6, 3}},
                                                {"resnet50", true, {3, 4, 6, 3}},
                                                {"resnet101", true, {3, 4, 23, 3}},
                                                {"resnet152", true, {3, 8, 36, 3}}};
  return specs;
}

const ResNetSpec* find_resnet_spec(const std::string& arch) {
  for (const auto& s : resnet_specs())
    if (s.name == arch) return &s;
  return nullptr;
}

std::string detect_resnet_arch(const SafeTensorsFile& file) {
  const std::string& path = file.path();
  if (file.find("conv1.0.weight"))
    throw ModelError(path +
                     ": deep-stem ResNet variant (conv1.0.weight, e.g. timm resnet50d) is "
                     "not supported; use the plain torchvision/timm resnet layout");
  if (file.find("embedder.embedder.convolution.weight") ||
      file.find("resnet.embedder.embedder.convolution.weight"))
    throw ModelError(path +
                     ": Hugging Face transformers ResNetModel layout is not supported; use "
                     "the torchvision or timm checkpoint (keys conv1.weight, layer1.0...)");
  if (!file.find("conv1.weight") || !file.find("layer1.0.conv1.weight"))
    throw ModelError(path +
                     ": not a ResNet checkpoint (no conv1.weight / layer1.0.conv1.weight); "
                     "set arch, or check the file");
  const bool bottleneck = file.find("layer1.0.conv3.weight") != nullptr;
  int64_t blocks[4] = {0, 0, 0, 0};
  for (int l = 0; l < 4; ++l)
    while (file.find("layer" + std::to_string(l + 1) + "." + std::to_string(blocks[l]) +
                     ".conv1.weight"))
      ++blocks[l];
  for (const auto& s : resnet_specs())
    if (s.bottleneck == bottleneck && std::equal(blocks, blocks + 4, s.blocks)) return s.name;
  throw ModelError(path + ": ResNet-like keys with " + (bottleneck ? "Bottleneck" : "BasicBlock") +
                   " blocks per stage [" + std::to_string(blocks[0]) + ", " +
                   std::to_string(blocks[1]) + ", " + std::to_string(blocks[2]) + ", " +
                   std::to_string(blocks[3]) + "] match no known architecture; set arch");
}

std::string resnet_arch_from_config(const nlohmann::json& config) {
  if (!config.is_object()) return "";
  for (const char* key : {"architecture", "arch"}) {
    auto it = config.find(key);
    if (it != config.end() && it->is_string() && find_resnet_spec(it->get<std::string>()))
      return it->get<std::string>();
  }
  return "";
}

const std::vector<std::string>& resnet_arches() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& s : resnet_specs()) n.push_back(s.name);
    return n;
  }();
  return names;
}

struct ResNetEncoder::Impl {
  Impl(const std::string& file, const ResNetOptions& options, const ResNetSpec& spec,
       std::shared_ptr<SafeTensorsFile> weights)
      : file(file), options(options), spec(spec), stop(layer_index(options.layer)) {
    const SafeTensorInfo* fc = weights->find("fc.weight");
    if (stop == -1 && !fc)
      throw ModelError(file + ": layer 'logits' needs the fc layer, but fc.weight is absent");
    // The classifier is only loaded when asked for; other outputs ignore it.
    const int64_t num_classes = (stop == -1 && fc && fc->shape.size() == 2) ? fc->shape[0] : 0;
    net = std::make_shared<ResNet>(spec, num_classes);

    WeightLoader loader(weights);
    loader.ignore(".*num_batches_tracked");
    if (num_classes == 0) loader.ignore("fc\\..*");
    torch::NoGradGuard no_grad;
    for (auto& p : net->named_parameters())
      p.value().set_data(loader.take(p.key(), p.value().sizes()));
    for (auto& b : net->named_buffers()) {
      const std::string& name = b.key();
      const bool counter =
          name.size() >= 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0;
      if (!counter) b.value().set_data(loader.take(name, b.value().sizes()));  // counters: unused
    }
    loader.finish();
    net->eval();
    if (options.fold_batchnorm) net->fold_batchnorm(options.channels_last);
    for (auto& p : net->parameters()) p.set_requires_grad(false);
    for (const auto& p : net->parameters()) params += p.numel();
    engine = pick_engine(options);
    net->prepare(engine);
  }

  torch::Tensor forward(const torch::Tensor& x) const {
    if (engine == Engine::Winograd) return net->forward_fast(x, stop);
    if (engine == Engine::OneDNN) return net->forward_onednn(x, stop);
    if (options.channels_last)
      return net->forward(x.contiguous(torch::MemoryFormat::ChannelsLast), stop);
    return net->forward(x, stop);
  }

  std::string file;
  ResNetOptions options;
  ResNetSpec spec;
  int stop;
  Engine engine = Engine::ATen;
  std::shared_ptr<ResNet> net;
  int64_t params = 0;
};

ResNetEncoder::ResNetEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResNetEncoder::~ResNetEncoder() = default;

std::shared_ptr<const ResNetEncoder> ResNetEncoder::load(const std::string& path,
                                                         const ResNetOptions& options) {
  use_caching_tensor_allocator();
  const ModelPath where = resolve_model_path(path);
  if (where.format == ModelFormat::TorchScript)
    throw ModelError(where.weights +
                     ": a TorchScript archive, not ResNet safetensors (TorchScriptEncoder runs "
                     "it: format torchscript)");
  auto file = SafeTensorsFile::open(where.weights);
  std::string arch = options.arch;
  if (arch.empty() && !where.config.empty())
    arch = resnet_arch_from_config(read_json_file(where.config));
  if (arch.empty()) arch = detect_resnet_arch(*file);  // throws when the layout is not a ResNet
  const ResNetSpec* spec = find_resnet_spec(arch);
  if (!spec)
    throw ModelError(where.weights + ": unknown image architecture '" + arch +
                     "' (known: " + join(resnet_arches(), ", ") + ")");
  return std::shared_ptr<const ResNetEncoder>(
      new ResNetEncoder(std::make_unique<Impl>(where.weights, options, *spec, std::move(file))));
}

Tensor ResNetEncoder::encode(const Tensor& images, int threads) const {
  const Impl& m = *impl_;
  check_image_batch(images, m.file);
  set_intra_op_threads(threads);
  c10::InferenceMode guard;
  const torch::Tensor x = to_torch(images);
  const int64_t n = x.size(0);
  const int64_t most = m.options.max_images_per_call > 0
                           ? m.options.max_images_per_call
                           : m.net->max_images_per_call(x.size(2), x.size(3));
  // Equal parts (16 at most 9 → 8 + 8, not 9 + 7): the weights are read once per part, and a
  // small last part would read them for few images.
  const int64_t calls = (n + most - 1) / most;
  std::vector<torch::Tensor> parts;
  for (int64_t c = 0; c < calls; ++c)
    parts.push_back(m.forward(x.slice(0, n * c / calls, n * (c + 1) / calls)));
  Tensor y = from_torch(parts.size() == 1 ? parts[0] : torch::cat(parts));
  if (m.options.normalize && m.stop <= 0) l2_normalize_rows(y);
  return y;
}

int64_t ResNetEncoder::dim() const {
  if (impl_->stop == -1) return impl_->net->num_classes();
  if (impl_->stop == 0) return impl_->net->features();
  return impl_->net->channels_of_layer(impl_->stop);
}

std::string ResNetEncoder::describe() const {
  const Impl& m = *impl_;
  std::ostringstream os;
  os << m.spec.name << " (torchvision layout), " << m.params << " parameters, output "
     << m.options.layer << " [" << dim() << (m.stop > 0 ? ", h, w]" : "]");
  if (m.options.fold_batchnorm) os << ", BatchNorm folded";
  if (m.engine == Engine::Winograd)
    os << ", channels-last Winograd/GEMM engine";
  else if (m.engine == Engine::OneDNN)
    os << ", oneDNN blocked layout, weights prepacked";
  else if (m.options.channels_last)
    os << ", channels-last";
  return os.str();
}

}  // namespace embedflow::models
