// Mel filterbanks stored as band rows: each filter keeps only its non-zero run of FFT bins, so
// applying it costs about two multiply-adds per bin instead of n_mels (triangles overlap only
// with their neighbours).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace embedflow::audio {

class SparseFilterbank {
 public:
  SparseFilterbank() = default;
  // From a dense row-major [n_filters, n_bins] matrix (zeros are dropped).
  SparseFilterbank(const std::vector<double>& dense, int n_filters, int n_bins);

  int filters() const { return n_filters_; }
  int bins() const { return n_bins_; }
  // frames × bins (row stride `in_stride`) → frames × filters (row stride n_filters).
  void apply(const float* in, int frames, int in_stride, float* out) const;
  // The same on bin-major tiles: in is bins × stride (columns [0, frames) used), out is
  // filters × stride. The inner loop runs over frames, so it vectorises.
  void apply_columns(const float* in, int frames, int stride, float* out) const;
  // Dense copy, for tests and debugging.
  std::vector<float> dense() const;

 private:
  int n_filters_ = 0, n_bins_ = 0;
  std::vector<int32_t> first_;   // first non-zero bin of each filter
  std::vector<int32_t> count_;   // number of bins in its band
  std::vector<int32_t> offset_;  // where its weights start in weights_
  std::vector<float> weights_;
};

enum class MelScale { Htk, Slaney };

// torchaudio.functional.melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate, norm,
// mel_scale), transposed to [n_mels, n_freqs]. Like torchaudio, the bin frequencies are
// linspace(0, sample_rate // 2, n_freqs) (integer Nyquist).
SparseFilterbank torchaudio_mel_filterbank(int n_freqs, double f_min, double f_max, int n_mels,
                                           int sample_rate, bool slaney_norm, MelScale scale);

// torchaudio.compliance.kaldi.get_mel_banks without VTLN warping, padded with the zero Nyquist
// column: [num_bins, padded_window_size / 2 + 1]. `high_freq` <= 0 is an offset from Nyquist.
SparseFilterbank kaldi_mel_filterbank(int num_bins, int padded_window_size, double sample_freq,
                                      double low_freq, double high_freq);

}  // namespace embedflow::audio
