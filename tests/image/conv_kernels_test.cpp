// ResNet's Winograd F(4x4, 3x3) and F(2x2, 3x3) kernels (models/conv_kernels.h), torch-free, at
// every CPU level this machine has: filter transform, input transform, the 36 (16) GEMMs done
// here in double, output transform with bias, residual and ReLU, against a direct 3x3
// convolution in double.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "models/conv_kernels.h"

namespace ck = embedflow::models::conv_kernels;
namespace cpu = embedflow::cpu;

namespace {

std::vector<float> uniform(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

struct Shape {
  int64_t n, h, w, c, k;
};

// relu?(conv3x3(x, w, padding 1) + bias + residual), NHWC, in double.
std::vector<double> direct_conv(const Shape& s, const std::vector<float>& x,
                                const std::vector<float>& w, const std::vector<float>& bias,
                                const float* residual, bool relu) {
  std::vector<double> y(static_cast<size_t>(s.n * s.h * s.w * s.k));
  for (int64_t img = 0; img < s.n; ++img)
    for (int64_t oy = 0; oy < s.h; ++oy)
      for (int64_t ox = 0; ox < s.w; ++ox)
        for (int64_t k = 0; k < s.k; ++k) {
          double acc = bias[k];
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              const int64_t iy = oy + ky - 1, ix = ox + kx - 1;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              const float* in = x.data() + ((img * s.h + iy) * s.w + ix) * s.c;
              for (int64_t c = 0; c < s.c; ++c)
                acc += static_cast<double>(in[c]) * w[((k * s.c + c) * 3 + ky) * 3 + kx];
            }
          const int64_t at = ((img * s.h + oy) * s.w + ox) * s.k + k;
          if (residual) acc += residual[at];
          y[at] = relu ? std::max(acc, 0.0) : acc;
        }
  return y;
}

}  // namespace

TEST_CASE("winograd kernels: each level runs its own build, or the one below") {
  for (const cpu::Level level : cpu::runnable_levels())
    CHECK(cpu::parse_level(ck::table(level).build) == std::min(level, cpu::Level::Avx2));
}

TEST_CASE("winograd kernels equal a direct 3x3 convolution at every CPU level") {
  const int64_t m = GENERATE(4, 2);  // output tile: F(4x4, 3x3), F(2x2, 3x3)
  const int64_t positions = (m + 2) * (m + 2);
  INFO("F(" << m << "x" << m << ", 3x3)");
  // Ragged edges (9x7: the last row and column of tiles overhang), more channels than one
  // 64-channel block on both sides, and blocks of tiles that do not start at 0.
  const Shape s{2, 9, 7, 70, 67};
  const int64_t th = (s.h + m - 1) / m, tw = (s.w + m - 1) / m, tiles = s.n * th * tw;
  const auto x = uniform(static_cast<size_t>(s.n * s.h * s.w * s.c), 1);
  const auto w = uniform(static_cast<size_t>(s.k * s.c * 9), 2);
  const auto bias = uniform(static_cast<size_t>(s.k), 3);
  const auto residual = uniform(static_cast<size_t>(s.n * s.h * s.w * s.k), 4);
  std::vector<float> u(static_cast<size_t>(positions * s.c * s.k));
  for (int64_t c = 0; c < s.c; ++c) {
    if (m == 4)
      ck::winograd_filter(w.data(), s.k, s.c, c, u.data());
    else
      ck::winograd2_filter(w.data(), s.k, s.c, c, u.data());
  }

  for (const bool with_residual : {false, true}) {
    const bool relu = with_residual;
    const std::vector<double> want =
        direct_conv(s, x, w, bias, with_residual ? residual.data() : nullptr, relu);
    double peak = 0.0;
    for (double v : want) peak = std::max(peak, std::fabs(v));
    for (const cpu::Level level : cpu::runnable_levels()) {
      const ck::Kernels& kern = ck::table(level);
      INFO("level " << cpu::level_name(level) << " (build " << kern.build << "), residual "
                    << with_residual);
      std::vector<float> y(want.size(), NAN);
      const ck::WinoJob job{x.data(),    with_residual ? residual.data() : nullptr,
                            bias.data(), y.data(),
                            s.h,         s.w,
                            th,          tw,
                            s.c,         s.k,
                            relu};
      // Two blocks of tiles, as the engine's fused path runs them: positions `nt` tiles apart,
      // rows counted from the block's first tile.
      for (const auto& [t0, t1] : {std::pair<int64_t, int64_t>{0, 5}, {5, tiles}}) {
        const int64_t nt = t1 - t0;
        std::vector<float> v(static_cast<size_t>(positions * nt * s.c)),
            mm(static_cast<size_t>(positions * nt * s.k));
        (m == 4 ? kern.wino_input : kern.wino2_input)(job, t0, t1, v.data(), nt, t0);
        for (int64_t p = 0; p < positions; ++p)
          for (int64_t t = 0; t < nt; ++t)
            for (int64_t k = 0; k < s.k; ++k) {
              double acc = 0.0;
              for (int64_t c = 0; c < s.c; ++c)
                acc += static_cast<double>(v[(p * nt + t) * s.c + c]) * u[(p * s.c + c) * s.k + k];
              mm[(p * nt + t) * s.k + k] = static_cast<float>(acc);
            }
        (m == 4 ? kern.wino_output : kern.wino2_output)(job, t0, t1, mm.data(), nt, t0);
      }
      double worst = 0.0;
      size_t unwritten = 0;  // NaN: the output transform missed it
      for (size_t i = 0; i < want.size(); ++i) {
        if (std::isnan(y[i])) ++unwritten;
        worst = std::max(worst, std::fabs(y[i] - want[i]));
      }
      CHECK(unwritten == 0);
      // Winograd in float: ~1e-6 of the largest output.
      CHECK(worst <= 1e-5 * peak);
    }
  }
}
