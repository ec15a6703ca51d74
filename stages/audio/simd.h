// Vector helpers for the audio front end's hot loops.
//
// Those loops are compiled twice, for x86-64-v3 (AVX2 + FMA) and for the build's baseline, and
// the dynamic loader picks one per machine (GNU ifunc): the default x86-64 target is SSE2, half
// as wide, and the build must stay portable, so no -march. Where the auto-vectoriser cannot be
// relied on (transposes, reductions, the log polynomial with a running max) the kernels use
// GCC/Clang vector extensions on 8 floats, which compile to one AVX register or two SSE ones.
// Internal to the audio library's sources (public headers stay free of vector types).
#pragma once

#include <cstdint>
#include <cstring>

// GCC only: Clang rejects 32-byte vector arguments in the baseline clone even when inlined.
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(EMBEDFLOW_NO_TARGET_CLONES)
#define EMBEDFLOW_AUDIO_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define EMBEDFLOW_AUDIO_HOT
#endif

namespace embedflow::audio::simd {

typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

// Always inlined: GCC's -Wpsabi (off for this library) notes that a 32-byte vector argument
// would be passed differently by the baseline clone; inlined, there is no such call.
#define EMBEDFLOW_SIMD_INLINE inline __attribute__((always_inline))

#if defined(__clang__)
#define EMBEDFLOW_SHUFFLE8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define EMBEDFLOW_SHUFFLE8(a, b, ...) \
  __builtin_shuffle(a, b, ::embedflow::audio::simd::i32x8{__VA_ARGS__})
#endif

EMBEDFLOW_SIMD_INLINE f32x8 load8(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

EMBEDFLOW_SIMD_INLINE void store8(float* p, f32x8 v) {
  std::memcpy(p, &v, sizeof v);
}

EMBEDFLOW_SIMD_INLINE f32x8 splat8(float x) {
  return f32x8{} + x;
}  // one broadcast

EMBEDFLOW_SIMD_INLINE f32x8 max8(f32x8 a, f32x8 b) {
  return a > b ? a : b;
}

// Largest lane.
EMBEDFLOW_SIMD_INLINE float hmax8(f32x8 v) {
  float m = v[0];
  for (int i = 1; i < 8; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

EMBEDFLOW_SIMD_INLINE float hsum8(f32x8 v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

// r[i][j] ↔ r[j][i] for 8 rows of 8 (unpack, shuffle, 128-bit lane swap: 24 shuffles in AVX).
EMBEDFLOW_SIMD_INLINE void transpose8(f32x8 r[8]) {
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
