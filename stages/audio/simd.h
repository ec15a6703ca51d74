// Vector helpers for the audio kernels (kernels_impl.h, built once per CPU level): GCC/Clang
// vector extensions on 8 floats, which compile to one AVX register in the AVX2 build or two SSE
// ones in the baseline build. Internal to the audio library's kernels (public headers stay free
// of vector types).
#pragma once

#include <cstdint>
#include <cstring>

#include "embedflow/cpu.h"

namespace embedflow::audio::simd {

typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

// The helpers are EMBEDFLOW_KERNEL_INLINE (embedflow/cpu.h), which also keeps GCC's -Wpsabi
// (off for this library) moot: it notes that a 32-byte vector argument would be passed
// differently without AVX, and inlined there is no such call.

#if defined(__clang__)
#define EMBEDFLOW_SHUFFLE8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define EMBEDFLOW_SHUFFLE8(a, b, ...) \
  __builtin_shuffle(a, b, ::embedflow::audio::simd::i32x8{__VA_ARGS__})
#endif

EMBEDFLOW_KERNEL_INLINE f32x8 load8(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

EMBEDFLOW_KERNEL_INLINE void store8(float* p, f32x8 v) {
  std::memcpy(p, &v, sizeof v);
}

EMBEDFLOW_KERNEL_INLINE f32x8 splat8(float x) {
  return f32x8{} + x;
}  // one broadcast

EMBEDFLOW_KERNEL_INLINE f32x8 max8(f32x8 a, f32x8 b) {
  return a > b ? a : b;
}

// Largest lane.
EMBEDFLOW_KERNEL_INLINE float hmax8(f32x8 v) {
  float m = v[0];
  for (int i = 1; i < 8; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

EMBEDFLOW_KERNEL_INLINE float hsum8(f32x8 v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

// r[i][j] ↔ r[j][i] for 8 rows of 8 (unpack, shuffle, 128-bit lane swap: 24 shuffles in AVX).
EMBEDFLOW_KERNEL_INLINE void transpose8(f32x8 r[8]) {
  f32x8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = EMBEDFLOW_SHUFFLE8(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = EMBEDFLOW_SHUFFLE8(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    for (int j = 0; j < 2; ++j) {
      u[i + 2 * j] = EMBEDFLOW_SHUFFLE8(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[i + 2 * j + 1] = EMBEDFLOW_SHUFFLE8(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = EMBEDFLOW_SHUFFLE8(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[i + 4] = EMBEDFLOW_SHUFFLE8(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

}  // namespace embedflow::audio::simd
