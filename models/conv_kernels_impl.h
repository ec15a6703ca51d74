// Bodies of the Winograd transforms, F(4x4, 3x3) and F(2x2, 3x3) (conv_kernels.h), compiled once
// per CPU level by embedflow_cpu_kernels (models/image.cmake) into that level's namespace, with
// internal linkage but for the table. Plain loops over channels, which the compiler vectorises for
// the level.
#ifndef EMBEDFLOW_CPU_TARGET
#error "compiled only through embedflow_cpu_kernels (cmake/CpuKernels.cmake)"
#endif

#include <algorithm>
#include <cstring>

#include "models/conv_kernels.h"

namespace embedflow::models::conv_kernels::EMBEDFLOW_CPU_TARGET {

namespace {

constexpr int64_t kWinoVec = 64;  // channels transformed together (a few cache lines)

// Bᵀ d B, d the 6x6 input tile.
void wino_input(const WinoJob& j, int64_t t0, int64_t t1, float* v, int64_t stride, int64_t first) {
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

// Aᵀ M A.
void wino_output(const WinoJob& j, int64_t t0, int64_t t1, const float* m, int64_t stride,
                 int64_t first) {
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
          std::memcpy(dst, o[b], sizeof(float) * kn);
          epilogue_row(dst, j.bias + k0, j.residual ? j.residual + at : nullptr, j.relu, kn);
        }
      }
    }
  }
}

// F(2x2, 3x3): Bᵀ d B of the 4x4 input tile d starting at (2·ty − 1, 2·tx − 1), to the 16 GEMM
// inputs.
void wino2_input(const WinoJob& j, int64_t t0, int64_t t1, float* v, int64_t stride,
                 int64_t first) {
  alignas(64) float zeros[kWinoVec] = {};
  alignas(64) float tmp[4][4][kWinoVec];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t img = t / (j.th * j.tw), ty = (t / j.tw) % j.th, tx = t % j.tw;
    for (int64_t c0 = 0; c0 < j.c; c0 += kWinoVec) {
      const int64_t cn = std::min(kWinoVec, j.c - c0);
      for (int s = 0; s < 4; ++s) {
        const int64_t ix = tx * 2 - 1 + s;
        const float* d[4];
        for (int r = 0; r < 4; ++r) {
          const int64_t iy = ty * 2 - 1 + r;
          d[r] = (iy < 0 || iy >= j.h || ix < 0 || ix >= j.w)
                     ? zeros
                     : j.x + ((img * j.h + iy) * j.w + ix) * j.c + c0;
        }
        for (int64_t c = 0; c < cn; ++c) {
          const float d0 = d[0][c], d1 = d[1][c], d2 = d[2][c], d3 = d[3][c];
          tmp[0][s][c] = d0 - d2;
          tmp[1][s][c] = d1 + d2;
          tmp[2][s][c] = d2 - d1;
          tmp[3][s][c] = d1 - d3;
        }
      }
      const int64_t row = t - first;
      for (int r = 0; r < 4; ++r) {
        float* out[4];
        for (int q = 0; q < 4; ++q) out[q] = v + ((r * 4 + q) * stride + row) * j.c + c0;
        const float *e0 = tmp[r][0], *e1 = tmp[r][1], *e2 = tmp[r][2], *e3 = tmp[r][3];
        for (int64_t c = 0; c < cn; ++c) {
          out[0][c] = e0[c] - e2[c];
          out[1][c] = e1[c] + e2[c];
          out[2][c] = e2[c] - e1[c];
          out[3][c] = e1[c] - e3[c];
        }
      }
    }
  }
}

// F(2x2, 3x3): Aᵀ M A, the 2x2 outputs, with bias, residual and ReLU.
void wino2_output(const WinoJob& j, int64_t t0, int64_t t1, const float* m, int64_t stride,
                  int64_t first) {
  alignas(64) float tmp[2][4][kWinoVec];
  alignas(64) float o[2][kWinoVec];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t img = t / (j.th * j.tw), ty = (t / j.tw) % j.th, tx = t % j.tw;
    const int64_t row = t - first;
    for (int64_t k0 = 0; k0 < j.k; k0 += kWinoVec) {
      const int64_t kn = std::min(kWinoVec, j.k - k0);
      for (int q = 0; q < 4; ++q) {
        const float* e[4];
        for (int r = 0; r < 4; ++r) e[r] = m + ((r * 4 + q) * stride + row) * j.k + k0;
        for (int64_t k = 0; k < kn; ++k) {
          tmp[0][q][k] = e[0][k] + e[1][k] + e[2][k];
          tmp[1][q][k] = e[1][k] - e[2][k] - e[3][k];
        }
      }
      for (int a = 0; a < 2; ++a) {
        const int64_t oy = ty * 2 + a;
        if (oy >= j.h) break;
        const float *e0 = tmp[a][0], *e1 = tmp[a][1], *e2 = tmp[a][2], *e3 = tmp[a][3];
        for (int64_t k = 0; k < kn; ++k) {
          o[0][k] = e0[k] + e1[k] + e2[k];
          o[1][k] = e1[k] - e2[k] - e3[k];
        }
        for (int b = 0; b < 2; ++b) {
          const int64_t ox = tx * 2 + b;
          if (ox >= j.w) break;
          const int64_t at = ((img * j.h + oy) * j.w + ox) * j.k + k0;
          float* dst = j.y + at;
          std::memcpy(dst, o[b], sizeof(float) * kn);
          epilogue_row(dst, j.bias + k0, j.residual ? j.residual + at : nullptr, j.relu, kn);
        }
      }
    }
  }
}

}  // namespace

extern const Kernels kTable = {EMBEDFLOW_CPU_TARGET_NAME, wino_input, wino_output, wino2_input,
                               wino2_output};

}  // namespace embedflow::models::conv_kernels::EMBEDFLOW_CPU_TARGET
