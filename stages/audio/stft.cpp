#include "stages/audio/stft.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "stages/audio/simd.h"
#include "stages/audio/window.h"

namespace embedflow::audio {

using simd::f32x8;
using simd::load8;
using simd::store8;

namespace {

static_assert(Stft::kBlockFrames == 8, "the block transpose works on 8x8 tiles");

// Pairs per FFTW call: FFTW is ~25% slower per frame on one transform at a time than on two,
// and more no faster, while the buffers of two pairs (13 KB) leave L1 room for the rest.
constexpr int kFftPairs = 2;
static_assert(Stft::kBlockFrames / 2 % kFftPairs == 0, "whole groups per block");

// A frame of a pair is recomputed alone when the other has more than this times its energy:
// the pair's rounding error, which scales with the root of both energies, would then exceed a
// lone FFT's by more than about sqrt((1 + 2) / 2).
constexpr float kPairEnergyRatio = 2.0f;

// z = (a * w) + i (b * w), interleaved complex.
EMBEDFLOW_AUDIO_HOT
void window_pair(const float* __restrict a, const float* __restrict b, const float* __restrict w,
                 float* __restrict z, int n) {
  for (int i = 0; i < n; ++i) {
    z[2 * i] = a[i] * w[i];
    z[2 * i + 1] = b[i] * w[i];
  }
}

// The two frames' |X[k]|^2, k in [0, n/2], from z = FFT(a + ib) of n points: with
// r = Z[(n-k) mod n], s = Z + r and d = Z - r, |X_a|^2 = (Re s^2 + Im d^2) / 4 and
// |X_b|^2 = (Im s^2 + Re d^2) / 4 (the 1/4 is folded into the window, halved for pairs).
// Written interleaved, u[2k] = |X_a[k]|^2 and u[2k+1] = |X_b[k]|^2: s*s + swap(d*d) needs no
// shuffle between real and imaginary parts. Also returns each frame's sum of |X[k]|^2.
EMBEDFLOW_AUDIO_HOT
void pair_power(const float* __restrict z, int n, float* __restrict u, float* energy_a,
                float* energy_b) {
  const int nb = n / 2 + 1;
  // Z[(n-k) mod n] for k = 0..3, whose first entry wraps around (used when nb >= 4).
  float head[8] = {z[0], z[1]};
  for (int k = 1; k < 4 && nb >= 4; ++k) {
    head[2 * k] = z[2 * (n - k)];
    head[2 * k + 1] = z[2 * (n - k) + 1];
  }
  f32x8 sum = simd::splat8(0.0f);
  int k = 0;
  for (; k + 4 <= nb; k += 4) {
    const f32x8 a = load8(z + 2 * k);
    f32x8 r;
    if (k == 0) {
      r = load8(head);
    } else {  // Z[n-k-3 .. n-k], reversed complex by complex
      const f32x8 v = load8(z + 2 * (n - k - 3));
      r = EMBEDFLOW_SHUFFLE8(v, v, 6, 7, 4, 5, 2, 3, 0, 1);
    }
    const f32x8 sq = (a + r) * (a + r), d = a - r, dq = d * d;
    const f32x8 v = sq + EMBEDFLOW_SHUFFLE8(dq, dq, 1, 0, 3, 2, 5, 4, 7, 6);
    store8(u + 2 * k, v);
    sum += v;
  }
  float ea = (sum[0] + sum[2]) + (sum[4] + sum[6]), eb = (sum[1] + sum[3]) + (sum[5] + sum[7]);
  for (; k < nb; ++k) {
    const int rk = k == 0 ? 0 : n - k;
    const float ar = z[2 * k], ai = z[2 * k + 1], rr = z[2 * rk], ri = z[2 * rk + 1];
    const float sr = ar + rr, dr = ar - rr, si = ai + ri, di = ai - ri;
    u[2 * k] = sr * sr + di * di;
    u[2 * k + 1] = si * si + dr * dr;
    ea += u[2 * k];
    eb += u[2 * k + 1];
  }
  *energy_a = ea;
  *energy_b = eb;
}

// |Z[k]|^2 for k < nb, the power of a lone real frame (imaginary part zero), into p[2k].
EMBEDFLOW_AUDIO_HOT
void squared_magnitude(const float* __restrict z, int nb, float* __restrict p) {
  for (int k = 0; k < nb; ++k) p[2 * k] = z[2 * k] * z[2 * k] + z[2 * k + 1] * z[2 * k + 1];
}

// |X|^2 → |X|^power * scale, in place.
EMBEDFLOW_AUDIO_HOT
void finish_power(float* __restrict p, int nb, double power, float scale) {
  if (power == 2.0) {
    if (scale != 1.0f)
      for (int k = 0; k < nb; ++k) p[k] *= scale;
  } else if (power == 1.0) {
    for (int k = 0; k < nb; ++k) p[k] = std::sqrt(p[k]) * scale;
  } else {
    for (int k = 0; k < nb; ++k)
      p[k] = static_cast<float>(std::pow(std::sqrt(p[k]), power)) * scale;
  }
}

// The pairs' interleaved powers (4 rows of 2 * ldp floats, see pair_power) → the bin-major
// block (ldp rows of 8 frames): a 4x4 transpose of (|X_a|^2, |X_b|^2) pairs per 4 bins.
EMBEDFLOW_AUDIO_HOT
void transpose_block(const float* __restrict u, int ldp, float* __restrict block) {
  const size_t row = 2 * static_cast<size_t>(ldp);
  for (int k = 0; k < ldp; k += 4) {
    const f32x8 r0 = load8(u + 2 * k), r1 = load8(u + row + 2 * k);
    const f32x8 r2 = load8(u + 2 * row + 2 * k), r3 = load8(u + 3 * row + 2 * k);
    const f32x8 t0 = EMBEDFLOW_SHUFFLE8(r0, r1, 0, 1, 8, 9, 4, 5, 12, 13);
    const f32x8 t1 = EMBEDFLOW_SHUFFLE8(r0, r1, 2, 3, 10, 11, 6, 7, 14, 15);
    const f32x8 t2 = EMBEDFLOW_SHUFFLE8(r2, r3, 0, 1, 8, 9, 4, 5, 12, 13);
    const f32x8 t3 = EMBEDFLOW_SHUFFLE8(r2, r3, 2, 3, 10, 11, 6, 7, 14, 15);
    float* out = block + static_cast<size_t>(k) * 8;
    store8(out, EMBEDFLOW_SHUFFLE8(t0, t2, 0, 1, 2, 3, 8, 9, 10, 11));
    store8(out + 8, EMBEDFLOW_SHUFFLE8(t1, t3, 0, 1, 2, 3, 8, 9, 10, 11));
    store8(out + 16, EMBEDFLOW_SHUFFLE8(t0, t2, 4, 5, 6, 7, 12, 13, 14, 15));
    store8(out + 24, EMBEDFLOW_SHUFFLE8(t1, t3, 4, 5, 6, 7, 12, 13, 14, 15));
  }
}

}  // namespace

// Per-thread FFT buffers and tiles, grown to the largest shape seen and reused, so an item
// allocates nothing here.
struct Stft::Scratch {
  AlignedBuffer<fftwf_complex> in, out;          // a group of pairs
  AlignedBuffer<fftwf_complex> one_in, one_out;  // a frame on its own
  std::vector<float> power;  // per pair 2 * ldp: interleaved |X|^power of its two frames
  std::vector<float> tmp_a, tmp_b, zeros, block;
  bool busy = false;

  void reserve(int n_fft, int dist, int ldp) {
    const size_t pairs = static_cast<size_t>(kFftPairs) * dist;
    if (in.size() < pairs) {
      in = AlignedBuffer<fftwf_complex>(pairs);
      out = AlignedBuffer<fftwf_complex>(pairs);
    }
    if (one_in.size() < static_cast<size_t>(dist)) {
      one_in = AlignedBuffer<fftwf_complex>(dist);
      one_out = AlignedBuffer<fftwf_complex>(dist);
    }
    // Entries past bins() (row padding, or left by a larger shape) are never read.
    const size_t tile = static_cast<size_t>(ldp) * kBlockFrames;
    if (power.size() < tile) power.assign(tile, 0.0f), block.assign(tile, 0.0f);
    if (tmp_a.size() < static_cast<size_t>(n_fft)) {
      tmp_a.resize(n_fft);
      tmp_b.resize(n_fft);
      zeros.assign(n_fft, 0.0f);
    }
  }
};

Stft::Stft(const StftOptions& options, const std::string& wisdom_file) : opt_(options) {
  if (opt_.n_fft < 2) throw std::invalid_argument("n_fft must be at least 2");
  if (opt_.win_length < 1 || opt_.win_length > opt_.n_fft)
    throw std::invalid_argument("win_length must be in [1, n_fft]");
  if (opt_.hop_length < 1) throw std::invalid_argument("hop_length must be positive");
  std::vector<float> w = make_window(opt_.window, opt_.win_length, opt_.periodic);
  window_.assign(2 * static_cast<size_t>(opt_.n_fft), 0.0f);  // the window, then window / 2
  const int left = (opt_.n_fft - opt_.win_length) / 2;        // torch.stft centres a short window
  double energy = 0.0;
  for (int i = 0; i < opt_.win_length; ++i) {
    window_[left + i] = w[i];
    window_[opt_.n_fft + left + i] = 0.5f * w[i];  // exact: a power of two
    energy += static_cast<double>(w[i]) * w[i];
  }
  if (opt_.normalized) scale_ = static_cast<float>(std::pow(energy, -opt_.power / 2.0));
  dist_ = (opt_.n_fft + 7) / 8 * 8;  // every transform SIMD-aligned
  ldp_ = (bins() + 7) / 8 * 8;
  group_plan_ = ComplexFftPlan::get(opt_.n_fft, kFftPairs, dist_, opt_.planning, wisdom_file);
  one_plan_ = ComplexFftPlan::get(opt_.n_fft, 1, dist_, opt_.planning, wisdom_file);
}

int64_t Stft::frames(int64_t n) const {
  const int64_t padded = n + 2 * static_cast<int64_t>(opt_.pad);
  const int64_t half = opt_.center ? opt_.n_fft / 2 : 0;
  if (opt_.center && opt_.pad_mode == PadMode::Reflect && half >= padded)
    throw std::invalid_argument("signal of " + std::to_string(n) +
                                " samples is too short for reflect padding with n_fft " +
                                std::to_string(opt_.n_fft) + " (needs more than " +
                                std::to_string(half) + "; use pad_mode: constant)");
  const int64_t total = padded + 2 * half;
  if (total < opt_.n_fft)
    throw std::invalid_argument("signal of " + std::to_string(n) +
                                " samples is shorter than one frame (n_fft " +
                                std::to_string(opt_.n_fft) + ", center: false)");
  return 1 + (total - opt_.n_fft) / opt_.hop_length;
}

const float* Stft::frame_samples(const float* x, int64_t n, int64_t t, float* tmp) const {
  const int n_fft = opt_.n_fft;
  const int64_t pad = opt_.pad, half = opt_.center ? n_fft / 2 : 0;
  const int64_t start = t * opt_.hop_length;  // in padded coordinates
  const int64_t first = start - half - pad;   // in signal coordinates
  if (first >= 0 && first + n_fft <= n) return x + first;
  // Sample i of the fully padded signal (constant `pad`, then centre padding).
  const int64_t padded = n + 2 * pad;
  const bool reflect = opt_.pad_mode == PadMode::Reflect;
  for (int i = 0; i < n_fft; ++i) {
    int64_t j = start + i - half;
    if (j < 0 || j >= padded) {
      if (!reflect) {
        tmp[i] = 0.0f;
        continue;
      }
      j = j < 0 ? -j : 2 * (padded - 1) - j;
    }
    j -= pad;
    tmp[i] = (j >= 0 && j < n) ? x[j] : 0.0f;
  }
  return tmp;
}

void Stft::run(const float* x, int64_t n, const BlockSink& sink) const {
  const int64_t n_frames = frames(n);
  const int n_fft = opt_.n_fft, nb = bins();
  const float* win = window_.data();
  const float* half_win = window_.data() + n_fft;  // window / 2: see pair_power
  const bool plain_power = opt_.power == 2.0 && scale_ == 1.0f;

  // A sink that runs another STFT on this thread gets its own scratch.
  static thread_local Scratch mine;
  Scratch own;
  Scratch& s = mine.busy ? own : mine;
  s.busy = true;
  struct Release {
    Scratch& s;
    ~Release() { s.busy = false; }
  } release{s};
  s.reserve(n_fft, dist_, ldp_);
  auto pair_in = [&](int j) { return s.in.data() + static_cast<size_t>(j) * dist_; };
  auto pair_out = [&](int j) { return s.out.data() + static_cast<size_t>(j) * dist_; };
  // Pair j's interleaved powers; frame f's are every other value from pair_row(f / 2) + f % 2.
  auto pair_row = [&](int j) { return s.power.data() + static_cast<size_t>(j) * 2 * ldp_; };

  for (int64_t t0 = 0; t0 < n_frames; t0 += kBlockFrames) {
    const int count = static_cast<int>(std::min<int64_t>(kBlockFrames, n_frames - t0));
    // Frames past the end are zeros: the last block's spare columns come out zero. A group of
    // pairs at a time, so the FFT's input and output stay in L1 from windowing to powers.
    for (int g = 0; g < kBlockFrames / 2; g += kFftPairs) {
      for (int j = 0; j < kFftPairs; ++j) {
        const int f = 2 * (g + j);
        const float* a = f < count ? frame_samples(x, n, t0 + f, s.tmp_a.data()) : s.zeros.data();
        const float* b =
            f + 1 < count ? frame_samples(x, n, t0 + f + 1, s.tmp_b.data()) : s.zeros.data();
        window_pair(a, b, half_win, reinterpret_cast<float*>(pair_in(j)), n_fft);
      }
      group_plan_->execute(s.in.data(), s.out.data());
      for (int j = 0; j < kFftPairs; ++j) {
        const int f = 2 * (g + j);
        float ea, eb;
        float* u = pair_row(g + j);
        pair_power(reinterpret_cast<const float*>(pair_out(j)), n_fft, u, &ea, &eb);
        // The quieter frame alone (a silent one then stays exactly zero).
        const int quiet = ea * kPairEnergyRatio < eb ? 0 : eb * kPairEnergyRatio < ea ? 1 : -1;
        if (quiet >= 0 && f + quiet < count) {
          const float* q = frame_samples(x, n, t0 + f + quiet, s.tmp_a.data());
          window_pair(q, s.zeros.data(), win, reinterpret_cast<float*>(s.one_in.data()), n_fft);
          one_plan_->execute(s.one_in.data(), s.one_out.data());
          squared_magnitude(reinterpret_cast<const float*>(s.one_out.data()), nb, u + quiet);
        }
        if (f + 1 == count)  // partnered with zeros: X_b is rounding noise, not zero
          for (int k = 0; k < nb; ++k) u[2 * k + 1] = 0.0f;
        if (!plain_power) finish_power(u, 2 * nb, opt_.power, scale_);
      }
    }
    transpose_block(s.power.data(), ldp_, s.block.data());
    sink(t0, count, s.block.data());
  }
}

}  // namespace embedflow::audio
