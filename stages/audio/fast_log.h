// Natural log of positive normal floats, branch-free so that loops over it vectorise
// (std::log is a scalar libm call and dominated the dB conversion). v = 2^e * m with m in
// [sqrt(1/2), sqrt(2)), ln(m) = x - x^2/2 + x^3 P(x) for x = m - 1, P a degree-5 minimax fit:
// at most 8.7e-8 from the exact ln(m) over every float m (3.8e-7 dB; the parity bar is 1e-3).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "embedflow/cpu.h"

namespace embedflow::audio {

constexpr float kLn2 = 0.693147182f;
// P(x), highest degree first, for Horner's rule (log8.h evaluates the same on 8 lanes).
constexpr float kLogPoly[6] = {-0.10225895047187805f, 0.16142189502716064f, -0.17166775465011597f,
                               0.19910110533237457f,  -0.249805748462677f,  0.3333469331264496f};

// The scalar helpers below are also the tails of the kernels (kernels_impl.h), hence
// EMBEDFLOW_KERNEL_INLINE.

// Returns ln(m) and sets *e, so that ln(v) = *e * kLn2 + ln(m).
EMBEDFLOW_KERNEL_INLINE float log_mantissa(float v, float* e) {
  int32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  int32_t exponent = ((bits >> 23) & 0xff) - 126;  // v = m * 2^exponent, m in [0.5, 1)
  bits = (bits & 0x007fffff) | 0x3f000000;
  float m;
  std::memcpy(&m, &bits, sizeof m);
  const int32_t small = m < 0.707106781186547524f;  // select arithmetic only: vectorises
  exponent -= small;
  const float x = m * static_cast<float>(1 + small) - 1.0f;  // exact either way
  *e = static_cast<float>(exponent);
  float p = kLogPoly[0];
  for (int i = 1; i < 6; ++i) p = p * x + kLogPoly[i];
  return x + x * x * (x * p - 0.5f);
}

// The constants of multiplier * log10(max(v, amin)) - ref_db = k ln(m) + c e - ref_db, with
// c = k ln 2 split in two floats: c e reaches ~400 for tiny v, and one float's rounding of c
// would cost 2e-5 dB there.
struct DbConstants {
  float k, c_hi, c_lo, ref_db, amin;
  EMBEDFLOW_KERNEL_INLINE DbConstants(float multiplier, float amin_, float ref_db_)
      : ref_db(ref_db_), amin(amin_) {
    const double kd = multiplier * 0.43429448190325182765;  // log10(v) = ln(v) * log10(e)
    const double cd = kd * 0.69314718055994530942;
    k = static_cast<float>(kd);
    c_hi = static_cast<float>(cd);
    c_lo = static_cast<float>(cd - c_hi);
  }
  EMBEDFLOW_KERNEL_INLINE float operator()(float v) const {
    float e;
    const float t = log_mantissa(v > amin ? v : amin, &e);
    return k * t + (c_lo * e + (c_hi * e - ref_db));
  }
};

EMBEDFLOW_KERNEL_INLINE float log_positive(float v) {
  float e;
  const float t = log_mantissa(v, &e);
  return t + kLn2 * e;
}

// The array functions run the audio kernels' build for the CPU (kernels.h), 8 lanes at a time
// (log8.h).

// x = multiplier * log10(max(x, amin)) - ref_db   (torchaudio amplitude_to_DB without top_db).
// amin must be a positive normal float. Returns the largest result (-inf for n = 0), which
// top_db clamps against.
float db_inplace(float* x, int64_t n, float multiplier, float amin, float ref_db);

// x = max(x, floor): top_db's clamp.
void clamp_below(float* x, int64_t n, float floor);

// x = log(x + offset). offset 0 keeps log(0) = -inf (libm path).
void log_inplace(float* x, int64_t n, float offset);

}  // namespace embedflow::audio
