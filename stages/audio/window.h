// Analysis windows, computed the way torch.*_window and Kaldi compute them.
#pragma once

#include <string>
#include <vector>

namespace embedflow::audio {

// "hann", "hamming", "blackman", "povey", "rectangular". `periodic` follows torch: the window of
// length N is the first N points of the symmetric window of length N+1 (what an FFT of frame
// length N wants); periodic=false gives the symmetric window (Kaldi's choice). "povey" is Kaldi's
// hann^0.85. `blackman_coeff` is Kaldi's generalised Blackman alpha (torch uses 0.42).
std::vector<float> make_window(const std::string& name, int length, bool periodic,
                               double blackman_coeff = 0.42);

// The window names make_window accepts.
const std::vector<std::string>& window_names();

}  // namespace embedflow::audio
