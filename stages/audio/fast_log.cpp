#include "stages/audio/fast_log.h"

namespace embedflow::audio {

void db_inplace(float* __restrict x, int64_t n, float multiplier, float amin, float ref_db) {
  const float k = multiplier * 0.43429448190325182765f;  // log10(v) = ln(v) * log10(e)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] > amin ? x[i] : amin;
    x[i] = k * log_positive(v) - ref_db;
  }
}

void log_inplace(float* __restrict x, int64_t n, float offset) {
  if (!(offset >= 1.17549435e-38f)) {
    for (int64_t i = 0; i < n; ++i) x[i] = std::log(x[i] + offset);
    return;
  }
  for (int64_t i = 0; i < n; ++i) x[i] = log_positive(x[i] + offset);
}

}  // namespace embedflow::audio
