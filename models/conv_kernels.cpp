#include "models/conv_kernels.h"

namespace embedflow::models::conv_kernels {

void winograd_filter(const float* w, int64_t k, int64_t c, int64_t channel, float* u) {
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  // k innermost: the 36 rows written for one channel advance together through memory.
  for (int64_t j = 0; j < k; ++j) {
    const float* g = w + (j * c + channel) * 9;
    double gg[6][3];  // G g
    for (int i = 0; i < 6; ++i)
      for (int b = 0; b < 3; ++b)
        gg[i][b] = G[i][0] * g[b] + G[i][1] * g[3 + b] + G[i][2] * g[6 + b];
    for (int i = 0; i < 6; ++i)
      for (int q = 0; q < 6; ++q)
        u[((i * 6 + q) * c + channel) * k + j] =
            static_cast<float>(gg[i][0] * G[q][0] + gg[i][1] * G[q][1] + gg[i][2] * G[q][2]);
  }
}

void winograd2_filter(const float* w, int64_t k, int64_t c, int64_t channel, float* u) {
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  for (int64_t j = 0; j < k; ++j) {
    const float* g = w + (j * c + channel) * 9;
    double gg[4][3];  // G g
    for (int i = 0; i < 4; ++i)
      for (int b = 0; b < 3; ++b)
        gg[i][b] = G[i][0] * g[b] + G[i][1] * g[3 + b] + G[i][2] * g[6 + b];
    for (int i = 0; i < 4; ++i)
      for (int q = 0; q < 4; ++q)
        u[((i * 4 + q) * c + channel) * k + j] =
            static_cast<float>(gg[i][0] * G[q][0] + gg[i][1] * G[q][1] + gg[i][2] * G[q][2]);
  }
}

}  // namespace embedflow::models::conv_kernels
