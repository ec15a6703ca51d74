#include "models/conv_kernels.h"

namespace embedflow::models::conv_kernels {

namespace {

// u[(i·kIn + q)·c + channel][j] = (G g Gᵀ)[i][q] for filter g = w[j][channel] of every output
// channel j, in double and rounded once; k innermost, so the rows written for one channel
// advance together through memory.
template <int kIn>
void filter_transform(const double (&G)[kIn][3], const float* w, int64_t k, int64_t c,
                      int64_t channel, float* u) {
  for (int64_t j = 0; j < k; ++j) {
    const float* g = w + (j * c + channel) * 9;
    double gg[kIn][3];  // G g
    for (int i = 0; i < kIn; ++i)
      for (int b = 0; b < 3; ++b)
        gg[i][b] = G[i][0] * g[b] + G[i][1] * g[3 + b] + G[i][2] * g[6 + b];
    for (int i = 0; i < kIn; ++i)
      for (int q = 0; q < kIn; ++q)
        u[((i * kIn + q) * c + channel) * k + j] =
            static_cast<float>(gg[i][0] * G[q][0] + gg[i][1] * G[q][1] + gg[i][2] * G[q][2]);
  }
}

}  // namespace

void winograd_filter(const float* w, int64_t k, int64_t c, int64_t channel, float* u) {
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  filter_transform(G, w, k, c, channel, u);
}

void winograd2_filter(const float* w, int64_t k, int64_t c, int64_t channel, float* u) {
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  filter_transform(G, w, k, c, channel, u);
}

}  // namespace embedflow::models::conv_kernels
