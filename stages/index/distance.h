// Inner products for the vector index, compiled once per CPU level from distance_impl.h and
// picked at run time (embedflow/cpu.h). Debian's libfaiss.a is a portable build whose distance
// functions are scalar loops (one multiply-add per cycle, no SIMD); HNSW spends nearly all its
// time in them, so the index's own FAISS subclasses (faiss_fast.h) call these instead: 8–16
// lanes per instruction with AVX2 or AVX-512.
#pragma once

#include <cstdint>

#include "embedflow/cpu.h"

namespace embedflow::vindex::kernels {

struct Table {
  const char* build;  // the level this table was compiled for
  // Σ a[i]·b[i] over d values.
  float (*inner_product)(const float* a, const float* b, int64_t d);
  // out[r] = Σ q[i]·rows[r·d + i] for n rows.
  void (*inner_products)(const float* q, const float* rows, int64_t n, int64_t d, float* out);
};

const Table& table(cpu::Level level = cpu::active_level());

}  // namespace embedflow::vindex::kernels
