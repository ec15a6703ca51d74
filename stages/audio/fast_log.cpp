#include "stages/audio/fast_log.h"

#include <limits>

#include "stages/audio/log8.h"

namespace embedflow::audio {

namespace {

using simd::f32x8;

EMBEDFLOW_AUDIO_HOT
float db_kernel(float* __restrict x, int64_t n, float multiplier, float amin, float ref_db) {
  const DbConstants c(multiplier, amin, ref_db);
  const f32x8 amin_v = simd::splat8(amin);
  f32x8 peak = simd::splat8(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const f32x8 y = db8(simd::load8(x + i), c, amin_v);
    simd::store8(x + i, y);
    peak = simd::max8(y, peak);
  }
  float m = simd::hmax8(peak);
  for (; i < n; ++i) {
    x[i] = c(x[i]);
    m = x[i] > m ? x[i] : m;
  }
  return m;
}

EMBEDFLOW_AUDIO_HOT
void log_kernel(float* __restrict x, int64_t n, float offset) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) simd::store8(x + i, log_positive8(simd::load8(x + i) + offset));
  for (; i < n; ++i) x[i] = log_positive(x[i] + offset);
}

EMBEDFLOW_AUDIO_HOT
void clamp_kernel(float* __restrict x, int64_t n, float floor) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > floor ? x[i] : floor;
}

}  // namespace

void clamp_below(float* x, int64_t n, float floor) {
  clamp_kernel(x, n, floor);
}

float db_inplace(float* x, int64_t n, float multiplier, float amin, float ref_db) {
  return db_kernel(x, n, multiplier, amin, ref_db);
}

void log_inplace(float* x, int64_t n, float offset) {
  if (!(offset >= 1.17549435e-38f)) {
    for (int64_t i = 0; i < n; ++i) x[i] = std::log(x[i] + offset);
    return;
  }
  log_kernel(x, n, offset);
}

}  // namespace embedflow::audio
