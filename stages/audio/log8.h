// fast_log.h's natural log on 8 lanes (simd.h vectors), for the stages' hot loops. Internal:
// include only from sources of the audio library, which build with -Wno-psabi.
#pragma once

#include "stages/audio/fast_log.h"
#include "stages/audio/simd.h"

namespace embedflow::audio {

// log_mantissa on 8 lanes, the same operations in the same order.
EMBEDFLOW_KERNEL_INLINE simd::f32x8 log_mantissa8(simd::f32x8 v, simd::f32x8* e) {
  using simd::f32x8;
  using simd::i32x8;
  i32x8 bits = reinterpret_cast<i32x8>(v);
  i32x8 exponent = ((bits >> 23) & 0xff) - 126;
  bits = (bits & 0x007fffff) | 0x3f000000;
  const f32x8 m = reinterpret_cast<f32x8>(bits);
  const i32x8 small = m < 0.707106781186547524f;  // -1 where true
  exponent += small;
  const f32x8 x = (small ? m + m : m) - 1.0f;
  *e = __builtin_convertvector(exponent, f32x8);
  f32x8 p = simd::splat8(kLogPoly[0]);
  for (int i = 1; i < 6; ++i) p = p * x + kLogPoly[i];
  return x + x * x * (x * p - 0.5f);
}

EMBEDFLOW_KERNEL_INLINE simd::f32x8 log_positive8(simd::f32x8 v) {
  simd::f32x8 e;
  const simd::f32x8 t = log_mantissa8(v, &e);
  return t + kLn2 * e;
}

// DbConstants on 8 lanes (amin_v: the amin broadcast).
EMBEDFLOW_KERNEL_INLINE simd::f32x8 db8(simd::f32x8 v, const DbConstants& c, simd::f32x8 amin_v) {
  simd::f32x8 e;
  const simd::f32x8 t = log_mantissa8(simd::max8(v, amin_v), &e);
  return c.k * t + (c.c_lo * e + (c.c_hi * e - c.ref_db));
}

}  // namespace embedflow::audio
