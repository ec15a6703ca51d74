#include "stages/io/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgproc.hpp>

namespace embedflow::plot {

cv::Size text_box(const std::string& text, const Font& font) {
  int baseline = 0;
  const cv::Size s = cv::getTextSize(text, font.face, font.scale, font.thickness, &baseline);
  return {s.width, s.height + baseline};
}

namespace {

// `text` as an 8-bit coverage mask of its box (anti-aliased), for blending at any angle.
cv::Mat text_mask(const std::string& text, const Font& font) {
  int baseline = 0;
  const cv::Size s = cv::getTextSize(text, font.face, font.scale, font.thickness, &baseline);
  cv::Mat mask(s.height + baseline, std::max(1, s.width), CV_8U, cv::Scalar(0));
  cv::putText(mask, text, {0, s.height}, font.face, font.scale, cv::Scalar(255), font.thickness,
              cv::LINE_AA);
  return mask;
}

void blend(cv::Mat& canvas, const cv::Mat& mask, cv::Point at, const cv::Scalar& ink) {
  const cv::Rect dst = cv::Rect(at, mask.size()) & cv::Rect(0, 0, canvas.cols, canvas.rows);
  for (int y = dst.y; y < dst.y + dst.height; ++y) {
    const uint8_t* m = mask.ptr<uint8_t>(y - at.y);
    cv::Vec3b* px = canvas.ptr<cv::Vec3b>(y);
    for (int x = dst.x; x < dst.x + dst.width; ++x) {
      const float a = m[x - at.x] / 255.0f;
      if (a == 0) continue;
      for (int c = 0; c < 3; ++c)
        px[x][c] = cv::saturate_cast<uint8_t>(px[x][c] * (1 - a) + ink[c] * a);
    }
  }
}

}  // namespace

void draw_text(cv::Mat& canvas, const std::string& text, cv::Point top_left, const cv::Scalar& ink,
               const Font& font) {
  blend(canvas, text_mask(text, font), top_left, ink);
}

void draw_text_up(cv::Mat& canvas, const std::string& text, cv::Point top_left,
                  const cv::Scalar& ink, const Font& font) {
  cv::Mat turned;
  cv::rotate(text_mask(text, font), turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  blend(canvas, turned, top_left, ink);
}

double nice_step(double raw) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  const double tol = 1e-9;
  if (r <= 1 + tol) return mag;
  if (r <= 2 + tol) return 2 * mag;
  if (r <= 5 + tol) return 5 * mag;
  return 10 * mag;
}

std::string format_number(double value, double step) {
  if (std::fabs(value) < step * 1e-6) value = 0;  // no "-0"
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", std::min(decimals, 12), value);
  return b;
}

std::string format_hz(double hz) {
  char b[48];
  if (std::fabs(hz) < 1000) {
    std::snprintf(b, sizeof b, "%g", std::round(hz * 100) / 100);
    return b;
  }
  std::snprintf(b, sizeof b, "%.2f", hz / 1000);
  std::string s = b;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s + "k";
}

namespace {

bool fits(const std::vector<Tick>& ticks, const AxisRoom& room, const Extent& extent) {
  double prev_end = -INFINITY;
  for (const Tick& t : ticks) {
    const double e = extent(t.label);
    const double a = t.pos - e / 2, b = t.pos + e / 2;
    if (a < room.min_pos || b > room.max_pos || a < prev_end + room.gap) return false;
    prev_end = b;
  }
  return true;
}

}  // namespace

std::vector<Tick> linear_ticks(double lo, double hi, const AxisRoom& room, const Extent& extent,
                               const std::function<std::string(double, double)>& format,
                               double floor) {
  if (!(hi > lo) || !(room.length > 0)) return {};
  const double span = hi - lo;
  // From about one tick per pixel up: the first step whose labels fit is the densest that does.
  double step = nice_step(span / std::max(1.0, room.length));
  for (int attempt = 0; attempt < 64; ++attempt, step = nice_step(step * 1.5)) {
    std::vector<Tick> ticks;
    const double first = std::ceil(std::max(lo, floor) / step - 1e-9),
                 last = std::floor(hi / step + 1e-9);
    if (last - first > room.length) continue;
    for (double k = first; k <= last; ++k) {
      const double v = k * step;
      ticks.push_back({v, (v - lo) / span * room.length, format(v, step)});
    }
    if (ticks.empty()) return {};
    if (fits(ticks, room, extent)) return ticks;
  }
  return {};
}

double hz_to_mel(double hz, bool htk) {
  if (htk) return 2595.0 * std::log10(1.0 + hz / 700.0);
  const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  return hz >= min_log_hz ? min_log_mel + std::log(hz / min_log_hz) / logstep : hz / f_sp;
}

std::vector<Tick> mel_ticks(double f_min, double f_max, bool htk, const AxisRoom& room,
                            const Extent& extent) {
  if (!(f_max > f_min) || !(room.length > 0)) return {};
  const double m0 = hz_to_mel(f_min, htk), m1 = hz_to_mel(f_max, htk);
  auto tick = [&](double hz) {
    return Tick{hz, (hz_to_mel(hz, htk) - m0) / (m1 - m0) * room.length, format_hz(hz)};
  };
  std::vector<double> candidates;
  if (f_min <= 0 && f_max >= 0) candidates.push_back(0);
  const int top = static_cast<int>(std::ceil(std::log10(std::max(f_max, 10.0))));
  for (int digit : {1, 5, 2, 3, 4, 6, 7, 8, 9})
    for (int k = top; k >= 1; --k) {
      const double v = digit * std::pow(10.0, k);
      if (v >= f_min && v <= f_max) candidates.push_back(v);
    }
  std::vector<Tick> chosen;
  for (double v : candidates) {
    std::vector<Tick> trial = chosen;
    trial.push_back(tick(v));
    std::sort(trial.begin(), trial.end(),
              [](const Tick& a, const Tick& b) { return a.value < b.value; });
    if (fits(trial, room, extent)) chosen = std::move(trial);
  }
  return chosen;
}

std::vector<cv::Vec3b> colormap_lut(int colormap) {
  cv::Mat ramp(1, 256, CV_8U);
  for (int i = 0; i < 256; ++i) ramp.at<uint8_t>(0, i) = static_cast<uint8_t>(i);
  cv::Mat bgr;
  if (colormap < 0)
    cv::cvtColor(ramp, bgr, cv::COLOR_GRAY2BGR);
  else
    cv::applyColorMap(ramp, bgr, colormap);
  std::vector<cv::Vec3b> lut(256);
  for (int i = 0; i < 256; ++i) lut[static_cast<size_t>(i)] = bgr.at<cv::Vec3b>(0, i);
  return lut;
}

std::vector<Tick> colour_bar_ticks(double lo, double hi, int height, const Font& font) {
  const double h = text_box("0", font).height;
  if (!(hi > lo)) return {{lo, height / 2.0, format_number(lo, 0.01)}};
  AxisRoom room;
  room.length = height - 1;
  room.min_pos = -h / 2;
  room.max_pos = height - 1 + h / 2;
  room.gap = std::max(6.0, 2 * h);  // colour bars read better with air between the values
  return linear_ticks(
      lo, hi, room, [&](const std::string&) { return h; }, format_number);
}

int widest_label(const std::vector<Tick>& ticks, const Font& font) {
  int w = 0;
  for (const Tick& t : ticks) w = std::max(w, text_box(t.label, font).width);
  return w;
}

void draw_colour_bar(cv::Mat& canvas, const cv::Rect& rect, int colormap,
                     const std::vector<Tick>& ticks, const std::string& caption, const Font& font) {
  const std::vector<cv::Vec3b> lut = colormap_lut(colormap);
  for (int y = 0; y < rect.height; ++y) {
    const double f = rect.height > 1 ? 1.0 - static_cast<double>(y) / (rect.height - 1) : 1.0;
    const cv::Vec3b c = lut[static_cast<size_t>(std::lround(f * 255))];
    cv::line(canvas, {rect.x, rect.y + y}, {rect.x + rect.width - 1, rect.y + y},
             cv::Scalar(c[0], c[1], c[2]));
  }
  const cv::Scalar ink(0, 0, 0);
  cv::rectangle(canvas, {rect.x - 1, rect.y - 1, rect.width + 2, rect.height + 2}, ink);
  for (const Tick& t : ticks) {
    const int y = rect.y + rect.height - 1 - static_cast<int>(std::lround(t.pos));
    const int x = rect.x + rect.width;
    cv::line(canvas, {x, y}, {x + 3, y}, ink);
    const cv::Size s = text_box(t.label, font);
    draw_text(canvas, t.label, {x + 6, y - s.height / 2}, ink, font);
  }
  if (!caption.empty()) {
    const cv::Size s = text_box(caption, font);
    draw_text(canvas, caption, {rect.x + rect.width / 2 - s.width / 2, rect.y - s.height - 6}, ink,
              font);
  }
}

}  // namespace embedflow::plot
