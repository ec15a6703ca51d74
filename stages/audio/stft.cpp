#include "stages/audio/stft.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "stages/audio/window.h"

namespace embedflow::audio {

Stft::Stft(const StftOptions& options, const std::string& wisdom_file) : opt_(options) {
  if (opt_.n_fft < 2) throw std::invalid_argument("n_fft must be at least 2");
  if (opt_.win_length < 1 || opt_.win_length > opt_.n_fft)
    throw std::invalid_argument("win_length must be in [1, n_fft]");
  if (opt_.hop_length < 1) throw std::invalid_argument("hop_length must be positive");
  std::vector<float> w = make_window(opt_.window, opt_.win_length, opt_.periodic);
  window_.assign(opt_.n_fft, 0.0f);
  const int left = (opt_.n_fft - opt_.win_length) / 2;  // torch.stft centres a short window
  double energy = 0.0;
  for (int i = 0; i < opt_.win_length; ++i) {
    window_[left + i] = w[i];
    energy += static_cast<double>(w[i]) * w[i];
  }
  if (opt_.normalized) scale_ = static_cast<float>(std::pow(energy, -opt_.power / 2.0));
  plan_ = RealFftPlan::get(opt_.n_fft, opt_.planning, wisdom_file);
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

void Stft::run(const float* x, int64_t n, const BlockSink& sink) const {
  const int n_fft = opt_.n_fft, nb = bins();
  const int64_t n_frames = frames(n);
  const int64_t pad = opt_.pad, half = opt_.center ? n_fft / 2 : 0;
  const int64_t padded = n + 2 * pad;  // length after the constant `pad`
  const bool reflect = opt_.pad_mode == PadMode::Reflect;

  // Sample i of the fully padded signal (constant `pad`, then centre padding).
  auto sample = [&](int64_t i) -> float {
    int64_t j = i - half;
    if (j < 0 || j >= padded) {
      if (!reflect) return 0.0f;
      j = j < 0 ? -j : 2 * (padded - 1) - j;
    }
    j -= pad;
    return (j >= 0 && j < n) ? x[j] : 0.0f;
  };

  AlignedBuffer<float> frame(n_fft);
  AlignedBuffer<fftwf_complex> spec(nb);
  std::vector<float> block(static_cast<size_t>(kBlockFrames) * nb);
  const float* win = window_.data();
  const double power = opt_.power;

  for (int64_t t0 = 0; t0 < n_frames; t0 += kBlockFrames) {
    const int count = static_cast<int>(std::min<int64_t>(kBlockFrames, n_frames - t0));
    for (int b = 0; b < count; ++b) {
      const int64_t start = (t0 + b) * opt_.hop_length;  // in padded coordinates
      const int64_t first = start - half - pad;          // in signal coordinates
      float* f = frame.data();
      if (first >= 0 && first + n_fft <= n) {
        const float* src = x + first;
        for (int i = 0; i < n_fft; ++i) f[i] = src[i] * win[i];
      } else {
        for (int i = 0; i < n_fft; ++i) f[i] = sample(start + i) * win[i];
      }
      plan_->execute(f, spec.data());
      float* out = block.data() + b;  // column b of the bin-major block
      const fftwf_complex* s = spec.data();
      constexpr int stride = kBlockFrames;
      if (power == 2.0) {
        for (int k = 0; k < nb; ++k)
          out[k * stride] = (s[k][0] * s[k][0] + s[k][1] * s[k][1]) * scale_;
      } else if (power == 1.0) {
        for (int k = 0; k < nb; ++k)
          out[k * stride] = std::sqrt(s[k][0] * s[k][0] + s[k][1] * s[k][1]) * scale_;
      } else {
        for (int k = 0; k < nb; ++k)
          out[k * stride] = static_cast<float>(
                                std::pow(std::sqrt(s[k][0] * s[k][0] + s[k][1] * s[k][1]), power)) *
                            scale_;
      }
    }
    sink(t0, count, block.data());
  }
}

}  // namespace embedflow::audio
