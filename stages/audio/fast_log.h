// Natural log for arrays of positive normal floats, written branch-free so the compiler
// vectorises it (std::log is a scalar libm call and dominated the dB conversion). Cephes' logf
// polynomial: within 1-2 ulp of std::log on normal inputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace embedflow::audio {

inline float log_positive(float v) {
  int32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  // v = m * 2^e with m in [0.5, 1).
  int32_t exponent = ((bits >> 23) & 0xff) - 126;
  bits = (bits & 0x007fffff) | 0x3f000000;
  float m;
  std::memcpy(&m, &bits, sizeof m);
  // Move m into [sqrt(0.5), sqrt(2)) so the polynomial sees |x| < 0.42. Integer/select
  // arithmetic only (no branches), so loops over this vectorise.
  const int32_t small = m < 0.707106781186547524f;
  exponent -= small;
  float x = m * static_cast<float>(1 + small) - 1.0f;  // exact either way
  const float e = static_cast<float>(exponent);
  const float z = x * x;
  float y = 7.0376836292e-2f;
  y = y * x - 1.1514610310e-1f;
  y = y * x + 1.1676998740e-1f;
  y = y * x - 1.2420140846e-1f;
  y = y * x + 1.4249322787e-1f;
  y = y * x - 1.6668057665e-1f;
  y = y * x + 2.0000714765e-1f;
  y = y * x - 2.4999993993e-1f;
  y = y * x + 3.3333331174e-1f;
  y = y * x * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  x = x + y;
  return x + 0.693359375f * e;
}

// The array functions live in fast_log.cpp: compiled on their own they vectorise, while inlined
// into a caller's lambda the compiler must assume the output aliases its captures.

// x = multiplier * log10(max(x, amin)) - ref_db   (torchaudio amplitude_to_DB without top_db).
// amin must be a positive normal float.
void db_inplace(float* x, int64_t n, float multiplier, float amin, float ref_db);

// x = log(x + offset). offset 0 keeps log(0) = -inf (libm path).
void log_inplace(float* x, int64_t n, float offset);

}  // namespace embedflow::audio
