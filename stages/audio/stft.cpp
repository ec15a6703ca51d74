#include "stages/audio/stft.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "stages/audio/kernels.h"
#include "stages/audio/window.h"

namespace embedflow::audio {

namespace {

// Pairs per FFTW call: FFTW is ~25% slower per frame on one transform at a time than on two,
// and more no faster, while the buffers of two pairs (13 KB) leave L1 room for the rest.
constexpr int kFftPairs = 2;
static_assert(Stft::kBlockFrames / 2 % kFftPairs == 0, "whole groups per block");

// A frame of a pair is recomputed alone when the other has more than this times its energy:
// the pair's rounding error, which scales with the root of both energies, would then exceed a
// lone FFT's by more than about sqrt((1 + 2) / 2).
constexpr float kPairEnergyRatio = 2.0f;

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
  const kernels::Table& kern = kernels::table();

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
        kern.window_pair(a, b, half_win, reinterpret_cast<float*>(pair_in(j)), n_fft);
      }
      group_plan_->execute(s.in.data(), s.out.data());
      for (int j = 0; j < kFftPairs; ++j) {
        const int f = 2 * (g + j);
        float ea, eb;
        float* u = pair_row(g + j);
        kern.pair_power(reinterpret_cast<const float*>(pair_out(j)), n_fft, u, &ea, &eb);
        // The quieter frame alone (a silent one then stays exactly zero).
        const int quiet = ea * kPairEnergyRatio < eb ? 0 : eb * kPairEnergyRatio < ea ? 1 : -1;
        if (quiet >= 0 && f + quiet < count) {
          const float* q = frame_samples(x, n, t0 + f + quiet, s.tmp_a.data());
          kern.window_pair(q, s.zeros.data(), win, reinterpret_cast<float*>(s.one_in.data()),
                           n_fft);
          one_plan_->execute(s.one_in.data(), s.one_out.data());
          kern.squared_magnitude(reinterpret_cast<const float*>(s.one_out.data()), nb, u + quiet);
        }
        if (f + 1 == count)  // partnered with zeros: X_b is rounding noise, not zero
          for (int k = 0; k < nb; ++k) u[2 * k + 1] = 0.0f;
        if (!plain_power) kern.finish_power(u, 2 * nb, opt_.power, scale_);
      }
    }
    kern.transpose_block(s.power.data(), ldp_, s.block.data());
    sink(t0, count, s.block.data());
  }
}

}  // namespace embedflow::audio
