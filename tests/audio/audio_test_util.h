// Helpers shared by the audio tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "embedflow/config.h"
#include "embedflow/item.h"
#include "embedflow/stage.h"
#include "tests/support/test_support.h"  // open_stage

namespace embedflow::test {

inline Item audio_item(const Tensor& wave, int sample_rate, const std::string& id = "clip") {
  Item it;
  it.id = id;
  it.source = id;
  it.kind = Kind::Audio;
  it.tensor = wave;
  it.sample_rate = sample_rate;
  return it;
}

inline Item file_item(const std::string& path) {
  Item it;
  it.id = path;
  it.source = path;
  it.kind = Kind::File;
  return it;
}

template <class S>
Item run_item(S& stage, const Item& in) {
  Item out = in.derive();
  stage.process(in, out);
  return out;
}

struct Diff {
  double max_abs = 0;  // max |a - b|
  double max_ref = 0;  // max |b|
  bool shape_ok = false;
};

inline Diff compare(const Tensor& got, const Tensor& want) {
  Diff d;
  d.shape_ok = got.shape() == want.shape() && got.dtype() == DType::F32;
  if (!d.shape_ok) return d;
  const float* a = got.data<float>();
  const float* b = want.data<float>();
  for (int64_t i = 0; i < want.numel(); ++i) {
    d.max_ref = std::max(d.max_ref, static_cast<double>(std::fabs(b[i])));
    // -inf == -inf (log of 0) counts as equal; any other non-finite mismatch is infinite error.
    if (a[i] == b[i]) continue;
    const double e = std::fabs(static_cast<double>(a[i]) - b[i]);
    d.max_abs = std::max(d.max_abs, std::isnan(e) ? INFINITY : e);
  }
  return d;
}

struct LogDiff {
  double max_abs = 0;            // max |got - want| over the resolvable elements
  int64_t failures = 0;          // resolvable elements with |got - want| > tol
  int64_t below_floor = 0;       // elements more than `floor_range` below their frame's peak
  double max_ours_vs_exact = 0;  // over all elements
  double max_ref_vs_exact = 0;
};

// For logarithmic outputs [F, T] (dB or natural log of power): `want` is the float32
// reference, `exact` the same computed in float64. Elements more than `floor_range` (in the
// output's units) below the peak of their frame sit at float32 FFT round-off, where two
// float32 FFTs disagree by whole dB; those are excluded from the `tol` comparison and judged by
// the overall accuracy against `exact` instead.
inline LogDiff compare_log(const Tensor& got, const Tensor& want, const Tensor& exact, double tol,
                           double floor_range) {
  LogDiff d;
  const int64_t rows = want.dim(-2), cols = want.dim(-1);
  const float* a = got.data<float>();
  const float* b = want.data<float>();
  const float* x = exact.data<float>();
  auto err = [](float p, float q) {
    if (p == q) return 0.0;  // also -inf == -inf
    const double e = std::fabs(static_cast<double>(p) - q);
    return std::isnan(e) ? INFINITY : e;
  };
  for (int64_t t = 0; t < cols; ++t) {
    float peak = -INFINITY;
    for (int64_t r = 0; r < rows; ++r) peak = std::max(peak, x[r * cols + t]);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * cols + t;
      d.max_ours_vs_exact = std::max(d.max_ours_vs_exact, err(a[i], x[i]));
      d.max_ref_vs_exact = std::max(d.max_ref_vs_exact, err(b[i], x[i]));
      if (x[i] < peak - floor_range) {
        ++d.below_floor;
        continue;
      }
      const double e = err(a[i], b[i]);
      d.max_abs = std::max(d.max_abs, e);
      if (e > tol) ++d.failures;
    }
  }
  return d;
}

}  // namespace embedflow::test
