// ResNet's channels-last convolution engine (conv_engine.h).
//
// The "winograd" engine: ResNet's convolutions on dense channels-last (NHWC) float tensors.
// 3x3 stride-1 convolutions (most of ResNet-18/34's work, ~45% of ResNet-50's) use Winograd
// F(4x4, 3x3): 36 GEMMs over channels on 6x6 input tiles instead of 9 taps per output, 4x fewer
// multiplications, with a float32 error of ~1e-6 of the largest output (tests/image check whole
// networks against torchvision); on maps of 8x8 or less, F(2x2, 3x3) (winograd_tile_for). The
// strided 3x3 ones are an im2col gather + GEMM below AVX-512; the stem, 1x1 and grouped ones
// (and the strided 3x3 from AVX-512 up) oneDNN's convolution primitive (dnnl_conv.h). Bias,
// residual add and ReLU are applied to each output block while it is in cache (oneDNN: as
// post-ops). GEMMs run single-threaded inside our own parallel regions: weights packed once, for
// oneDNN's f32 matmul where that is batch-invariant, else for the fixed-order GEMM (WeightGemm):
// either way an image's features do not depend on its batch.

#include "models/conv_engine.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <vector>

#include "models/conv_kernels.h"
#ifdef EMBEDFLOW_HAVE_DNNL
#include "models/dnnl_conv.h"
#endif
#include "models/transformer/fixed_gemm.h"
#ifdef EMBEDFLOW_HAVE_DNNL
#include "models/transformer/packed_matmul.h"
#endif

// at::parallel_for is an inline `#pragma omp parallel` with this libtorch, and parallel_items
// below is one: without -fopenmp (models/CMakeLists.txt) the engine would silently run on one
// thread.
#ifndef _OPENMP
#error "models/conv_engine.cpp must be compiled with -fopenmp"
#endif

namespace embedflow::models {

namespace {

// C [m, n] = A [m, k] · B for a convolution's weights B [k, n] (row-major, kept by the caller
// until then). OpenBLAS's sgemm sums a row in an order that follows the row count, so an image's
// features depended on its batch mates (#16). B is packed once instead: for oneDNN's f32 matmul
// where that is batch-invariant (PackedMatmul::f32_invariant_here: AVX-512), for the fixed-order
// GEMM elsewhere (transformer/fixed_gemm.h). The caller lets its copy go.
class WeightGemm {
 public:
  WeightGemm(const float* b, int64_t k, int64_t n) {
#ifdef EMBEDFLOW_HAVE_DNNL
    transformer::cap_onednn_isa_at_active_level();
    if (transformer::PackedMatmul::f32_invariant_here()) {
      std::vector<float> bt(static_cast<size_t>(k * n));  // PackedMatmul takes [n, k]
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < n; ++j) bt[static_cast<size_t>(j * k + i)] = b[i * n + j];
      matmul_ = std::make_shared<const transformer::PackedMatmul>(
          transformer::PackedMatmul::Type::F32, bt.data(), n, k);
      return;
    }
#endif
    fixed_ = std::make_shared<const transformer::fixed_gemm::PackedWeights>(b, n, k, 1, n);
  }
  // a: m rows k floats apart; c: m rows n floats apart. On the calling thread.
  void run(int64_t m, const float* a, float* c) const {
#ifdef EMBEDFLOW_HAVE_DNNL
    if (matmul_) return matmul_->run(a, m, c, false);
#endif
    fixed_->run(a, fixed_->k(), m, c, fixed_->n(), false);
  }

 private:
#ifdef EMBEDFLOW_HAVE_DNNL
  std::shared_ptr<const transformer::PackedMatmul> matmul_;
#endif
  std::shared_ptr<const transformer::fixed_gemm::PackedWeights> fixed_;
};

// Per-thread scratch that only grows: blocks of a layer are the same size, so after the first
// batch no thread allocates.
float* scratch(int slot, size_t floats) {
  thread_local std::array<std::vector<float>, 2> buffers;
  if (buffers[slot].size() < floats) buffers[slot].resize(floats);
  return buffers[slot].data();
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
        bias_(bias.contiguous()),
        gemm_(w_.data_ptr<float>(), kh_ * kw_ * c_, k_) {
    w_ = torch::Tensor();  // the packed copy serves
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual, bool relu) const {
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    const int64_t oh = (h + 2 * pad_ - kh_) / stride_ + 1, ow = (w + 2 * pad_ - kw_) / stride_ + 1;
    torch::Tensor y = empty_nhwc(n, k_, oh, ow);
    const float* src = x.data_ptr<float>();
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
      gemm_.run(r1 - r0, a, dst + r0 * k_);
      for (int64_t r = r0; r < r1; ++r)
        conv_kernels::epilogue_row(dst + r * k_, bias, res ? res + r * k_ : nullptr, relu, k_);
    });
    return y;
  }

 private:
  int64_t k_, c_, kh_, kw_, stride_, pad_;
  torch::Tensor w_, bias_;  // w_ [kh, kw, C, K] until packed
  WeightGemm gemm_;
};

// 3x3, stride 1, padding 1 by Winograd F(m x m, 3x3) (Lavin & Gray 2015), m = 4 or 2: each
// (m+2)x(m+2) input tile d becomes V = Bᵀ d B, each filter g becomes U = G g Gᵀ (once), the
// (m+2)² positions of the tiles are independent GEMMs M = V · U over channels, and Aᵀ M A gives
// an m x m output tile. F(4x4) does 4x fewer multiplications than a direct convolution, F(2x2)
// 2.25x fewer but reads 2.25x less transformed filter per tile position (see FastConv).
class WinogradConv {
 public:
  WinogradConv(const torch::Tensor& weight, const torch::Tensor& bias, int64_t tile)
      : m_(tile),
        p_((tile + 2) * (tile + 2)),
        k_(weight.size(0)),
        c_(weight.size(1)),
        bias_(bias.contiguous()) {
    const torch::Tensor wt = weight.contiguous();
    const float* src = wt.data_ptr<float>();
    torch::Tensor u_t = torch::empty({p_, c_, k_});  // the transformed filters, until packed
    float* u = u_t.data_ptr<float>();
    parallel_items(c_, [&](int64_t c) {
      if (m_ == 4)
        conv_kernels::winograd_filter(src, k_, c_, c, u);
      else
        conv_kernels::winograd2_filter(src, k_, c_, c, u);
    });
    for (int64_t p = 0; p < p_; ++p) gemms_.emplace_back(u + p * c_ * k_, c_, k_);
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual, bool relu) const {
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    const int64_t th = (h + m_ - 1) / m_, tw = (w + m_ - 1) / m_, tiles = n * th * tw;
    torch::Tensor y = empty_nhwc(n, k_, h, w);
    const conv_kernels::WinoJob job{x.data_ptr<float>(),
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
    const conv_kernels::Kernels& kern = conv_kernels::table();
    const auto input = m_ == 4 ? kern.wino_input : kern.wino2_input;
    const auto output = m_ == 4 ? kern.wino_output : kern.wino2_output;
    const int64_t u_bytes = p_ * c_ * k_ * 4, vm_bytes = p_ * tiles * (c_ + k_) * 4;
    const std::vector<WeightGemm>& gemms = gemms_;
    // Fused blocks of tiles (transform, GEMMs, output transform while in L2) re-read all of U
    // per block; when U is large next to the tiles (deep layers: few tiles, many channels), run
    // the three phases over all tiles instead so U is read once.
    // ~1 MiB of V and M per block (L2), and >= 16 tiles so the GEMMs stay efficient.
    const int64_t ideal = std::max<int64_t>(16, (int64_t{1} << 20) / (p_ * 4 * (c_ + k_)));
    const int64_t blocks = block_count(tiles, ideal, 16);
    // Fewer blocks than threads (one image's deep layers: 4 or 16 tiles, one block) would leave
    // threads idle; the phases share out the tile positions instead.
    if ((blocks - 1) * u_bytes < vm_bytes && blocks >= int64_t{at::get_num_threads()}) {
      parallel_items(blocks, [&](int64_t b) {
        const int64_t t0 = tiles * b / blocks, t1 = tiles * (b + 1) / blocks, nt = t1 - t0;
        float* v = scratch(0, static_cast<size_t>(p_ * nt * c_));
        float* m = scratch(1, static_cast<size_t>(p_ * nt * k_));
        input(job, t0, t1, v, nt, t0);
        for (int64_t p = 0; p < p_; ++p) gemms[p].run(nt, v + p * nt * c_, m + p * nt * k_);
        output(job, t0, t1, m, nt, t0);
      });
      return y;
    }
    // The calling thread's scratch: the parallel regions below only read and write through it.
    float* v = scratch(0, static_cast<size_t>(p_ * tiles * c_));
    float* m = scratch(1, static_cast<size_t>(p_ * tiles * k_));
    constexpr int64_t kGroup = 8;  // tiles per work item of the transforms
    const int64_t groups = (tiles + kGroup - 1) / kGroup;
    parallel_items(groups, [&](int64_t g) {
      input(job, g * kGroup, std::min(tiles, (g + 1) * kGroup), v, tiles, 0);
    });
    parallel_items(p_,
                   [&](int64_t p) { gemms[p].run(tiles, v + p * tiles * c_, m + p * tiles * k_); });
    parallel_items(groups, [&](int64_t g) {
      output(job, g * kGroup, std::min(tiles, (g + 1) * kGroup), m, tiles, 0);
    });
    return y;
  }

 private:
  int64_t m_, p_, k_, c_;  // output tile m x m, (m+2)² positions
  torch::Tensor bias_;
  std::vector<WeightGemm> gemms_;  // one per tile position, on U's [C, K] slices
};

}  // namespace

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

bool fast_conv_available() {
#ifdef EMBEDFLOW_HAVE_DNNL
  return true;
#else
  return false;
#endif
}

#ifdef EMBEDFLOW_HAVE_DNNL
// Which Winograd tile a 3x3 layer runs for an input of h x w pixels per image. F(4x4) does the
// fewest multiplications, but its transformed filter is 36/9 = 4x the weights and each tile
// position's GEMM reads its share: on maps of 8x8 or less (ResNet's last stage at 224 px: 7x7,
// 4 tiles of 4x4 per image) a one-image pass is bound by reading it. F(2x2) reads 16/9 of the
// weights: ResNet-18 at batch 1 ran ~15% faster, batch 16 unchanged (bench/image); also on
// 14x14 maps it gained at batch 1 but cost ~3.5% at batch 16. The choice follows the image size
// alone, never the batch, so an image's features stay the same bits in any batch.
static int64_t winograd_tile_for(int64_t h, int64_t w) {
  return (h <= 8 && w <= 8) ? 2 : 4;
}

// One convolution of the engine, by what measured fastest for its shape (bench/image, alternating
// pairs): Winograd for 3x3 stride 1; oneDNN's convolution primitive (dnnl_conv.h) for the stem,
// the 1x1 and the grouped ones, and from AVX-512 up for the strided 3x3 (ResNet-18 6-9% faster
// than im2col + GEMM at batch 1 and 16, ResNet-50 0-5%); below, im2col + GEMM for those (as fast
// or up to 3% faster with oneDNN capped at AVX2).
struct FastConv::Impl {
  // 3x3 stride 1: the folded weight and bias, and each Winograd variant made on first use (an
  // encoder sees one image size, so usually one of them).
  torch::Tensor weight, bias;
  mutable std::once_flag made[2];
  mutable std::optional<WinogradConv> wino[2];  // F(2x2), F(4x4)
  std::optional<GemmConv> gemm;
  std::unique_ptr<DnnlConv> dnnl;
};

FastConv::FastConv(const torch::Tensor& weight, const torch::Tensor& bias, int64_t stride,
                   int64_t padding, int64_t groups) {
  auto impl = std::make_shared<Impl>();
  const int64_t kh = weight.size(2), kw = weight.size(3);
  if (groups == 1 && kh == 3 && kw == 3 && stride == 1 && padding == 1) {
    impl->weight = weight.contiguous().clone();
    impl->bias = bias.contiguous().clone();
  } else if (groups == 1 && !(kh == 1 && kw == 1) && weight.size(1) >= 8 &&
             cpu::active_level() < cpu::Level::Avx512) {
    impl->gemm.emplace(weight, bias, stride, padding);
  } else {  // 1x1, grouped, the stem (3 channels), strided 3x3 from AVX-512 up
    transformer::cap_onednn_isa_at_active_level();
    const torch::Tensor w = weight.contiguous(), b = bias.contiguous();
    impl->dnnl = std::make_unique<DnnlConv>(w.data_ptr<float>(), b.data_ptr<float>(), w.size(0),
                                            w.size(1) * groups, kh, kw, stride, padding, groups);
  }
  impl_ = std::move(impl);
}

torch::Tensor FastConv::forward(const torch::Tensor& x, const torch::Tensor& residual,
                                bool relu) const {
  if (impl_->weight.defined()) {
    const int64_t tile = winograd_tile_for(x.size(2), x.size(3));
    const int v = tile == 4 ? 1 : 0;
    std::call_once(impl_->made[v],
                   [&] { impl_->wino[v].emplace(impl_->weight, impl_->bias, tile); });
    return impl_->wino[v]->forward(x, residual, relu);
  }
  if (impl_->gemm) return impl_->gemm->forward(x, residual, relu);
  const DnnlConv& conv = *impl_->dnnl;
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  torch::Tensor y = empty_nhwc(n, conv.out_channels(), conv.out_size(h), conv.out_size(w));
  conv.run(x.data_ptr<float>(), n, h, w, residual.defined() ? residual.data_ptr<float>() : nullptr,
           relu, y.data_ptr<float>());
  return y;
}
#else
struct FastConv::Impl {};
FastConv::FastConv(const torch::Tensor&, const torch::Tensor&, int64_t, int64_t, int64_t) {
  throw std::logic_error("FastConv without oneDNN (see fast_conv_available)");
}
torch::Tensor FastConv::forward(const torch::Tensor&, const torch::Tensor&, bool) const {
  throw std::logic_error("FastConv without oneDNN (see fast_conv_available)");
}
#endif

}  // namespace embedflow::models
