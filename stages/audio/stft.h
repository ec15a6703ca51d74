// The short-time Fourier transform behind audio.spectrogram, matching torch.stft as
// torchaudio.functional.spectrogram calls it (onesided, window zero-padded to n_fft and
// centred, optional reflect/constant centre padding).
//
// Frames are produced in blocks that stay in cache, laid out bin-major like the final [F, T]
// output (so the mel projection vectorises across frames and rows copy straight out); padding
// is resolved per sample at the edges instead of building a padded copy of the signal.
//
// Two real frames go through one complex FFT: frame t as the real part and frame t+1 as the
// imaginary part, X_t = (Z + conj Z[n-k]) / 2 and X_t+1 = (Z - conj Z[n-k]) / 2i, two pairs per
// FFTW call. That is half the transforms, no twiddle pass, and FFTW's vectorised complex
// codelets, for any n_fft (FFTW's r2c of sizes such as 400 runs scalar radix-16 real codelets
// and takes about 2.5x as long per frame). Rounding error of the pair's FFT scales with both
// frames' energy, so when one frame of a pair has less than half the other's energy (onsets,
// silence next to sound) it is recomputed on its own: every frame keeps a per-frame FFT's
// accuracy relative to its own peak, and silent frames stay exactly zero.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stages/audio/fftw_plans.h"

namespace embedflow::audio {

enum class PadMode { Reflect, Constant };

struct StftOptions {
  int n_fft = 400;
  int win_length = 400;
  int hop_length = 200;
  std::string window = "hann";
  bool periodic = true;
  bool center = true;
  PadMode pad_mode = PadMode::Reflect;
  int pad = 0;              // zeros on both sides before centring (torchaudio's `pad`)
  double power = 2.0;       // 1: magnitude, 2: power, else |X|^power
  bool normalized = false;  // divide by the window's L2 norm (torchaudio normalized=True)
  FftPlanning planning = FftPlanning::Estimate;
};

class Stft {
 public:
  // Frames per block: a tile row is one AVX vector, and the block's working set stays in L1.
  static constexpr int kBlockFrames = 8;
  // Plans the FFTs (call from open(): planning takes the global FFTW planner lock).
  Stft(const StftOptions& options, const std::string& wisdom_file = "");

  const StftOptions& options() const { return opt_; }
  int bins() const { return opt_.n_fft / 2 + 1; }
  // Number of frames for a signal of n samples; throws std::invalid_argument (with the reason)
  // when the signal is too short for the padding mode or the frame size.
  int64_t frames(int64_t n) const;

  // Calls sink(first_frame, count, block) for consecutive blocks of at most kBlockFrames frames.
  // block is bins() rows of kBlockFrames floats (row k = bin k; columns [count, kBlockFrames) of
  // the last block are zero, so a sink may process whole tiles); the sink may overwrite it.
  // Thread-safe; scratch buffers are per thread and reused across calls.
  using BlockSink = std::function<void(int64_t first_frame, int count, float* block)>;
  void run(const float* x, int64_t n, const BlockSink& sink) const;

 private:
  struct Scratch;
  // The n_fft samples of frame t before windowing: a pointer into x, or `tmp` filled with the
  // padded signal at the edges.
  const float* frame_samples(const float* x, int64_t n, int64_t t, float* tmp) const;

  StftOptions opt_;
  // The analysis window zero-padded and centred to n_fft, twice: as is and halved.
  std::vector<float> window_;
  int dist_ = 0;  // complex values between transforms in the FFT buffers
  int ldp_ = 0;   // bins() rounded up to 8: the powers' row length (kernels.h)
  std::shared_ptr<const ComplexFftPlan> group_plan_;  // a few pairs at once (stft.cpp)
  std::shared_ptr<const ComplexFftPlan> one_plan_;    // one frame on its own
  float scale_ = 1.0f;                                // applied to |X|^power (window normalisation)
};

}  // namespace embedflow::audio
