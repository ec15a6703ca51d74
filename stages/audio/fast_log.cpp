#include "stages/audio/fast_log.h"

#include "stages/audio/kernels.h"

namespace embedflow::audio {

void clamp_below(float* x, int64_t n, float floor) {
  kernels::table().clamp_below(x, n, floor);
}

float db_inplace(float* x, int64_t n, float multiplier, float amin, float ref_db) {
  return kernels::table().db_inplace(x, n, multiplier, amin, ref_db);
}

void log_inplace(float* x, int64_t n, float offset) {
  if (!(offset >= 1.17549435e-38f)) {
    for (int64_t i = 0; i < n; ++i) x[i] = std::log(x[i] + offset);
    return;
  }
  kernels::table().log_inplace(x, n, offset);
}

}  // namespace embedflow::audio
