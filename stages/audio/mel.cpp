#include "stages/audio/mel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "stages/audio/kernels.h"

namespace embedflow::audio {

SparseFilterbank::SparseFilterbank(const std::vector<double>& dense, int n_filters, int n_bins)
    : n_filters_(n_filters), n_bins_(n_bins) {
  for (int m = 0; m < n_filters; ++m) {
    const double* row = dense.data() + static_cast<size_t>(m) * n_bins;
    int lo = 0, hi = n_bins;
    while (lo < hi && row[lo] == 0.0) ++lo;
    while (hi > lo && row[hi - 1] == 0.0) --hi;
    first_.push_back(lo);
    count_.push_back(hi - lo);
    offset_.push_back(static_cast<int32_t>(weights_.size()));
    for (int k = lo; k < hi; ++k) weights_.push_back(static_cast<float>(row[k]));
  }
  // The per-bin form, if the bands allow it.
  std::vector<int32_t> lower(n_bins, -1);
  bin_weights_.assign(2 * static_cast<size_t>(n_bins), 0.0f);
  two_per_bin_ = n_filters > 0;
  for (int m = 0; m < n_filters && two_per_bin_; ++m) {
    for (int j = 0; j < count_[m]; ++j) {
      const int k = first_[m] + j;
      if (lower[k] < 0) lower[k] = m;
      const int slot = m - lower[k];
      if (slot > 1) {
        two_per_bin_ = false;
        break;
      }
      bin_weights_[2 * k + slot] = weights_[offset_[m] + j];
    }
  }
  int kb = 0, ke = n_bins;
  while (kb < ke && lower[kb] < 0) ++kb;
  while (ke > kb && lower[ke - 1] < 0) --ke;
  for (int k = kb + 1; k < ke && two_per_bin_; ++k)
    if (lower[k] < lower[k - 1]) two_per_bin_ = false;  // also catches a gap (-1) in the run
  if (two_per_bin_) {
    bin_start_.assign(n_filters + 1, ke);
    for (int m = 0, k = kb; m < n_filters; ++m) {
      bin_start_[m] = k;
      while (k < ke && lower[k] == m) ++k;
    }
  } else {
    bin_weights_.clear();
  }
}

void SparseFilterbank::apply(const float* in, int frames, int in_stride, float* out) const {
  for (int t = 0; t < frames; ++t) {
    const float* spec = in + static_cast<size_t>(t) * in_stride;
    float* dst = out + static_cast<size_t>(t) * n_filters_;
    for (int m = 0; m < n_filters_; ++m) {
      const float* w = weights_.data() + offset_[m];
      const float* s = spec + first_[m];
      float acc = 0.0f;
      for (int k = 0; k < count_[m]; ++k) acc += w[k] * s[k];
      dst[m] = acc;
    }
  }
}

float SparseFilterbank::apply_tile8_to(const float* in, const TileOutput& how, int count,
                                       float* out, int64_t out_stride) const {
  const kernels::FilterbankView view{n_filters_,        two_per_bin_,    bin_weights_.data(),
                                     bin_start_.data(), weights_.data(), first_.data(),
                                     count_.data(),     offset_.data()};
  return kernels::table().filterbank_tile(view, in, how, count, out, out_stride);
}

std::vector<float> SparseFilterbank::dense() const {
  std::vector<float> d(static_cast<size_t>(n_filters_) * n_bins_, 0.0f);
  for (int m = 0; m < n_filters_; ++m)
    for (int k = 0; k < count_[m]; ++k)
      d[static_cast<size_t>(m) * n_bins_ + first_[m] + k] = weights_[offset_[m] + k];
  return d;
}

namespace {

// The filterbanks are computed in float32 with torch's formulas, in torch's order: torchaudio
// builds them from float32 tensors, and edge weights of narrow triangles are sensitive to that
// rounding (double-precision weights moved low mel bands by ~1e-4 relative).

double hz_to_mel(double f, MelScale scale) {  // torchaudio: Python floats, i.e. double
  if (scale == MelScale::Htk) return 2595.0 * std::log10(1.0 + f / 700.0);
  // Slaney: linear below 1 kHz, logarithmic above.
  const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  if (f >= min_log_hz) return min_log_mel + std::log(f / min_log_hz) / logstep;
  return f / f_sp;
}

float mel_to_hz(float m, MelScale scale) {  // torchaudio: float32 tensor ops
  if (scale == MelScale::Htk) return 700.0f * (std::pow(10.0f, m / 2595.0f) - 1.0f);
  const float f_sp = static_cast<float>(200.0 / 3), min_log_hz = 1000.0f;
  const float min_log_mel = static_cast<float>(1000.0 / (200.0 / 3));
  const float logstep = static_cast<float>(std::log(6.4) / 27.0);
  if (m >= min_log_mel) return min_log_hz * std::exp(logstep * (m - min_log_mel));
  return f_sp * m;
}

// torch.linspace for float32: start + i*step for the first half, end - (n-1-i)*step after.
std::vector<float> linspace(float start, float end, int n) {
  std::vector<float> v(n);
  const float step = n > 1 ? (end - start) / static_cast<float>(n - 1) : 0.0f;
  const int halfway = n / 2;
  for (int i = 0; i < n; ++i)
    v[i] = i < halfway ? start + step * static_cast<float>(i)
                       : end - step * static_cast<float>(n - i - 1);
  return v;
}

}  // namespace

SparseFilterbank torchaudio_mel_filterbank(int n_freqs, double f_min, double f_max, int n_mels,
                                           int sample_rate, bool slaney_norm, MelScale scale) {
  if (n_freqs < 2 || n_mels < 1) throw std::invalid_argument("mel filterbank: empty shape");
  const std::vector<float> all_freqs = linspace(0.0f, static_cast<float>(sample_rate / 2), n_freqs);
  const std::vector<float> m_pts =
      linspace(static_cast<float>(hz_to_mel(f_min, scale)),
               static_cast<float>(hz_to_mel(f_max, scale)), n_mels + 2);
  std::vector<float> f_pts(n_mels + 2);
  for (int i = 0; i < n_mels + 2; ++i) f_pts[i] = mel_to_hz(m_pts[i], scale);

  std::vector<double> fb(static_cast<size_t>(n_mels) * n_freqs, 0.0);
  for (int m = 0; m < n_mels; ++m) {
    const float diff_lo = f_pts[m + 1] - f_pts[m], diff_hi = f_pts[m + 2] - f_pts[m + 1];
    const float enorm = slaney_norm ? 2.0f / (f_pts[m + 2] - f_pts[m]) : 1.0f;
    for (int k = 0; k < n_freqs; ++k) {
      const float down = (-1.0f * (f_pts[m] - all_freqs[k])) / diff_lo;
      const float up = (f_pts[m + 2] - all_freqs[k]) / diff_hi;
      float w = std::max(0.0f, std::min(down, up));
      if (slaney_norm) w *= enorm;
      fb[static_cast<size_t>(m) * n_freqs + k] = w;
    }
  }
  return SparseFilterbank(fb, n_mels, n_freqs);
}

SparseFilterbank kaldi_mel_filterbank(int num_bins, int padded_window_size, double sample_freq,
                                      double low_freq, double high_freq) {
  const double nyquist = 0.5 * sample_freq;
  if (high_freq <= 0.0) high_freq += nyquist;
  if (num_bins <= 3) throw std::invalid_argument("fbank needs more than 3 mel bins");
  if (!(low_freq >= 0.0 && low_freq < nyquist && high_freq > 0.0 && high_freq <= nyquist &&
        low_freq < high_freq))
    throw std::invalid_argument("fbank: low_freq " + std::to_string(low_freq) + " and high_freq " +
                                std::to_string(high_freq) + " must satisfy 0 <= low < high <= " +
                                std::to_string(nyquist) + " (Nyquist)");
  // Scalars in double (Python floats), per-bin tensors in float32, as torchaudio does.
  auto mel_scalar = [](double f) { return 1127.0 * std::log(1.0 + f / 700.0); };
  const int num_fft_bins = padded_window_size / 2;
  const double fft_bin_width = sample_freq / padded_window_size;
  const double mel_low = mel_scalar(low_freq), mel_high = mel_scalar(high_freq);
  const double delta = (mel_high - mel_low) / (num_bins + 1);
  const int n_cols = num_fft_bins + 1;  // the Nyquist bin gets weight 0
  std::vector<float> mel(num_fft_bins);
  for (int k = 0; k < num_fft_bins; ++k) {
    const float f = static_cast<float>(fft_bin_width * k);
    mel[k] = 1127.0f * std::log(1.0f + f / 700.0f);
  }
  std::vector<double> fb(static_cast<size_t>(num_bins) * n_cols, 0.0);
  for (int b = 0; b < num_bins; ++b) {
    const float left = static_cast<float>(mel_low + b * delta);
    const float center = static_cast<float>(mel_low + (b + 1.0) * delta);
    const float right = static_cast<float>(mel_low + (b + 2.0) * delta);
    for (int k = 0; k < num_fft_bins; ++k) {
      const float up = (mel[k] - left) / (center - left);
      const float down = (right - mel[k]) / (right - center);
      fb[static_cast<size_t>(b) * n_cols + k] = std::max(0.0f, std::min(up, down));
    }
  }
  return SparseFilterbank(fb, num_bins, n_cols);
}

}  // namespace embedflow::audio
