// Small plotting kit for the pictures write.png and write.heatmap draw with OpenCV's imgproc:
// axis ticks at nice values whose labels never collide, text (also rotated), colour bars. Only
// core/imgproc: no highgui, no imgcodecs (see png_encode.h for why).
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace embedflow::plot {

// The font of every label: OpenCV's Hershey simplex at a size readable on screen.
struct Font {
  int face = 0;  // cv::FONT_HERSHEY_SIMPLEX
  double scale = 0.4;
  int thickness = 1;
};

// Width and height of `text` (height includes the baseline: the box a label occupies).
cv::Size text_box(const std::string& text, const Font& font = {});
// Draws `text` with its box's top-left corner at `top_left`.
void draw_text(cv::Mat& canvas, const std::string& text, cv::Point top_left, const cv::Scalar& ink,
               const Font& font = {});
// Draws `text` turned 90° counter-clockwise (read bottom to top); `top_left` is the corner of the
// turned box, whose size is text_box(text) transposed. Clipped at the canvas edges.
void draw_text_up(cv::Mat& canvas, const std::string& text, cv::Point top_left,
                  const cv::Scalar& ink, const Font& font = {});

// The smallest step of the form {1, 2, 5} × 10^k that is >= raw (raw > 0).
double nice_step(double raw);
// A tick value as text with just the decimals its step needs: (0.25, 0.05) → "0.25".
std::string format_number(double value, double step);
// Hertz for an axis: "500", "1k", "2.5k", "12k".
std::string format_hz(double hz);

struct Tick {
  double value;       // in data units
  double pos;         // pixels from the axis start (the low end of the data range)
  std::string label;  // centred on pos along the axis
};

// Where labels may go along an axis of `length` pixels: each label's extent (its width on a
// horizontal axis, its height on a vertical one) centred on its tick must stay within
// [min_pos, max_pos] and `gap` pixels from its neighbours.
struct AxisRoom {
  double length = 0;
  double min_pos = 0, max_pos = 0;
  double gap = 8;
};
using Extent = std::function<double(const std::string&)>;

// Ticks for [lo, hi] on a linear axis: multiples of the smallest nice step whose labels fit the
// room without touching. `format(value, step)` makes a label. No tick below `floor` (an axis
// whose first pixel stands a little before zero still starts its labels at 0). Empty when no
// label fits.
std::vector<Tick> linear_ticks(double lo, double hi, const AxisRoom& room, const Extent& extent,
                               const std::function<std::string(double, double)>& format,
                               double floor = -INFINITY);

// Frequency ticks for a mel axis from f_min to f_max Hz: values with one significant digit
// (100, 500, 2k, 7k ...) placed where the mel scale puts them, chosen by importance (powers of
// ten, then 5s, then 2s, then the rest) as long as their labels fit. htk: 2595·log10(1 + f/700);
// otherwise Slaney's (linear below 1 kHz, logarithmic above), as torchaudio's mel_scale.
std::vector<Tick> mel_ticks(double f_min, double f_max, bool htk, const AxisRoom& room,
                            const Extent& extent);
double hz_to_mel(double hz, bool htk);

// The 256 BGR colours of an OpenCV colormap id (-1: gray), index 0 the low end.
std::vector<cv::Vec3b> colormap_lut(int colormap);
// Ticks for a vertical colour bar `height` pixels high showing [lo, hi] (pos from its bottom).
std::vector<Tick> colour_bar_ticks(double lo, double hi, int height, const Font& font = {});
// The widest label of `ticks`.
int widest_label(const std::vector<Tick>& ticks, const Font& font = {});
// A vertical colour bar in `rect` (the colormap's high end at the top) with a frame and `ticks`
// labelled on its right; `caption` (e.g. "dB") centred above it.
void draw_colour_bar(cv::Mat& canvas, const cv::Rect& rect, int colormap,
                     const std::vector<Tick>& ticks, const std::string& caption,
                     const Font& font = {});

}  // namespace embedflow::plot
