#include "stages/audio/window.h"

#include <cmath>
#include <stdexcept>

namespace embedflow::audio {

const std::vector<std::string>& window_names() {
  static const std::vector<std::string> names{"hann", "hamming", "blackman", "povey",
                                              "rectangular"};
  return names;
}

std::vector<float> make_window(const std::string& name, int length, bool periodic,
                               double blackman_coeff) {
  if (length < 1) throw std::invalid_argument("window length must be positive");
  std::vector<float> w(length, 1.0f);
  if (name == "rectangular") return w;
  if (length == 1) return w;  // torch returns [1] for every window of length 1
  // Denominator of the phase: N for periodic windows, N-1 for symmetric ones.
  const double denom = periodic ? length : length - 1;
  const double a = 2.0 * M_PI / denom;
  for (int n = 0; n < length; ++n) {
    double v;
    if (name == "hann" || name == "povey") {
      v = 0.5 - 0.5 * std::cos(a * n);
      if (name == "povey") v = std::pow(v, 0.85);
    } else if (name == "hamming") {
      v = 0.54 - 0.46 * std::cos(a * n);
    } else if (name == "blackman") {
      v = blackman_coeff - 0.5 * std::cos(a * n) + (0.5 - blackman_coeff) * std::cos(2.0 * a * n);
    } else {
      throw std::invalid_argument("unknown window '" + name +
                                  "' (expected hann, hamming, blackman, povey or rectangular)");
    }
    w[n] = static_cast<float>(v);
  }
  return w;
}

}  // namespace embedflow::audio
