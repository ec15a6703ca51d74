// Mel filterbanks stored as band rows: each filter keeps only its non-zero run of FFT bins, so
// applying it costs about two multiply-adds per bin instead of n_mels (triangles overlap only
// with their neighbours). For tiles the same weights are also kept per bin: every bin of a
// triangular bank touches at most two adjacent filters, so one pass over the bins, each row
// loaded once, feeds two running sums.
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
  // What apply_tile8_to does with each filter's values.
  struct TileOutput {
    enum Kind { Value, Db, Log } kind = Value;
    float multiplier = 0, amin = 0, ref_db = 0;  // Db: multiplier * log10(max(v, amin)) - ref_db
    float offset = 0;                            // Log: log(v + offset), offset a normal float
  };
  // The same on a bin-major tile of 8 frames (in: bins × 8), summing in the same order as
  // apply(); each filter's 8 values are converted and stored straight into row m of `out` (row
  // stride out_stride, columns [0, count)), so the projected tile never goes through memory.
  // Returns the largest converted value of the tile, spare columns included (-inf for Value).
  float apply_tile8_to(const float* in, const TileOutput& how, int count, float* out,
                       int64_t out_stride) const;
  // Whether the tiles use the per-bin form (see above) rather than the bands; for tests.
  bool per_bin_form() const { return two_per_bin_; }
  // Dense copy, for tests and debugging.
  std::vector<float> dense() const;

 private:
  int n_filters_ = 0, n_bins_ = 0;
  std::vector<int32_t> first_;   // first non-zero bin of each filter
  std::vector<int32_t> count_;   // number of bins in its band
  std::vector<int32_t> offset_;  // where its weights start in weights_
  std::vector<float> weights_;
  // Per bin, when every bin's filters are some {m, m+1} with m never decreasing over the bins,
  // which form one run: the weights for m and m+1 (0 where the bin is outside one), and for
  // each filter m the bins [bin_start_[m], bin_start_[m + 1]) whose lower filter is m.
  bool two_per_bin_ = false;
  std::vector<float> bin_weights_;  // 2 per bin
  std::vector<int32_t> bin_start_;  // n_filters + 1
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
