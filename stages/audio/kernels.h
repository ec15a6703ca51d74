// The audio front end's hot loops (the STFT's windowing, powers and block transpose, the
// filterbank tiles, the dB and log conversions), compiled once per CPU level from
// kernels_impl.h and picked at run time (embedflow/cpu.h): with AVX2 they run about twice as
// fast as the x86-64 baseline build, which the portable build must keep. Internal to the audio
// library.
#pragma once

#include <cstdint>

#include "embedflow/cpu.h"
#include "stages/audio/mel.h"

namespace embedflow::audio::kernels {

// What a filterbank tile reads of a SparseFilterbank (see mel.h for the two forms).
struct FilterbankView {
  int n_filters;
  bool two_per_bin;
  const float* bin_weights;  // per-bin form: 2 per bin
  const int32_t* bin_start;  // per-bin form: n_filters + 1
  const float* weights;      // band form: each filter's weights, from offset[m]
  const int32_t* first;      // band form: first bin of each filter's band
  const int32_t* count;      // band form: bins in each band
  const int32_t* offset;     // band form: where each band's weights start
};

struct Table {
  const char* build;  // the level this table was compiled for (embedflow/cpu.h's names)
  // z = (a * w) + i (b * w), interleaved complex, n samples.
  void (*window_pair)(const float* a, const float* b, const float* w, float* z, int n);
  // The two frames' |X[k]|^2 from z = FFT(a + ib) of n points, interleaved into u (u[2k] for a,
  // u[2k+1] for b, k in [0, n/2]), and each frame's energy.
  void (*pair_power)(const float* z, int n, float* u, float* energy_a, float* energy_b);
  // |Z[k]|^2 for k < nb into p[2k]: a lone real frame's power.
  void (*squared_magnitude)(const float* z, int nb, float* p);
  // |X|^2 → |X|^power * scale, in place, nb values.
  void (*finish_power)(float* p, int nb, double power, float scale);
  // 4 pairs' interleaved powers (rows of 2 * ldp floats) → the bin-major block of 8 frames.
  void (*transpose_block)(const float* u, int ldp, float* block);
  // SparseFilterbank::apply_tile8_to (mel.h).
  float (*filterbank_tile)(const FilterbankView& fb, const float* in,
                           const SparseFilterbank::TileOutput& how, int count, float* out,
                           int64_t out_stride);
  // fast_log.h's db_inplace, log_inplace (for a normal offset) and clamp_below.
  float (*db_inplace)(float* x, int64_t n, float multiplier, float amin, float ref_db);
  void (*log_inplace)(float* x, int64_t n, float offset);
  void (*clamp_below)(float* x, int64_t n, float floor);
};

// The build for `level` (by default the level in effect).
const Table& table(cpu::Level level = cpu::active_level());

}  // namespace embedflow::audio::kernels
