// The short-time Fourier transform behind audio.spectrogram, matching torch.stft as
// torchaudio.functional.spectrogram calls it (onesided, window zero-padded to n_fft and
// centred, optional reflect/constant centre padding).
//
// Frames are produced in small blocks that stay in cache, laid out bin-major like the final
// [F, T] output (so the mel projection vectorises across frames and rows copy straight out);
// padding is resolved per sample at the edges instead of building a padded copy of the signal.
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
  RealFftPlan::Planning planning = RealFftPlan::Planning::Estimate;
};

class Stft {
 public:
  static constexpr int kBlockFrames = 64;
  // Plans the FFT (call from open(): planning takes the global FFTW planner lock).
  Stft(const StftOptions& options, const std::string& wisdom_file = "");

  const StftOptions& options() const { return opt_; }
  int bins() const { return opt_.n_fft / 2 + 1; }
  // Number of frames for a signal of n samples; throws std::invalid_argument (with the reason)
  // when the signal is too short for the padding mode or the frame size.
  int64_t frames(int64_t n) const;

  // Calls sink(first_frame, count, block) for consecutive blocks of at most kBlockFrames frames.
  // block is bins() rows of kBlockFrames floats (row k = bin k, columns [0, count) valid); the
  // sink may overwrite it. Thread-safe.
  using BlockSink = std::function<void(int64_t first_frame, int count, float* block)>;
  void run(const float* x, int64_t n, const BlockSink& sink) const;

 private:
  StftOptions opt_;
  std::vector<float> window_;  // n_fft long: the analysis window zero-padded and centred
  std::shared_ptr<const RealFftPlan> plan_;
  float scale_ = 1.0f;  // applied to |X|^power (window normalisation)
};

}  // namespace embedflow::audio
