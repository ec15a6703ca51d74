#include "stages/io/write_png.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <opencv2/imgproc.hpp>

#include "embedflow/atomic_file.h"
#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "embedflow/safe_path.h"
#include "stages/io/png_encode.h"

namespace fs = std::filesystem;

namespace embedflow {

StageSchema write_png_schema() {
  StageSchema s;
  s.type = "write.png";
  s.kind = StageKind::Sink;
  s.summary = "Write spectrograms and images as PNG files, to eyeball what a model sees.";
  s.doc =
      "One file per item: `<dir>/<item id>.png`. Spectrograms are scaled like spectrogram.image "
      "(`scale`, `range`, `flip`) and coloured with `colormap`; with `axes: true` a margin shows "
      "time in seconds and the frequency range (from the spectrogram's meta), otherwise the file "
      "is the bare strip, one pixel per bin and frame. Images (u8 RGB) are written as they are; "
      "image tensors are min-max scaled per item. Files appear whole (written, then renamed).";
  s.inputs = {{"in", {Kind::Spectrogram, Kind::Image, Kind::ImageTensor}, "what to render"}};
  s.output = Kind::None;
  s.params = {
      ParamSpec::output_dir("dir").require().describe("Output folder (created if missing)."),
      ParamSpec::enumeration("colormap", "magma", colormap_names())
          .describe("Colormap for spectrograms (gray: no colour)."),
      ParamSpec::enumeration("scale", "min-max", {"min-max", "range"})
          .describe("min-max per item, or the fixed `range`."),
      ParamSpec::floats("range").describe("[lo, hi] for scale: range (default [-80, 0] dB)."),
      ParamSpec::boolean("flip", true).describe("Low frequencies at the bottom."),
      ParamSpec::integer("height", 0)
          .range(0, 8192)
          .describe("Resize spectrograms to this many pixels high (0: one row per bin)."),
      ParamSpec::boolean("axes", false)
          .describe("Add time/frequency labels around the spectrogram (false: bare strip)."),
  };
  s.default_concurrency = 1;
  s.max_concurrency = 1;
  return s;
}

std::string png_path_for(const std::string& dir, const std::string& id) {
  std::string rel = safe_relative_path(id);
  if (rel.empty()) rel = "item";
  return (fs::path(dir) / rel).string() + ".png";
}

WritePngStage::WritePngStage(const Params& p) {
  dir_ = p.get_string("dir");
  colormap_ = colormap_id(p.get_string("colormap"));
  scaling_.min_max = p.get_string("scale") == "min-max";
  if (p.has("range")) {
    const std::vector<double> r = p.get_floats("range");
    if (r.size() != 2 || !(r[0] < r[1]))
      throw p.error("range", "range must be [lo, hi] with lo < hi");
    scaling_.lo = r[0];
    scaling_.hi = r[1];
  }
  scaling_.flip = p.get_bool("flip");
  height_ = static_cast<int>(p.get_int("height"));
  axes_ = p.get_bool("axes");
}

namespace {

// Margins with a time axis (seconds) below and the frequency range on the left.
cv::Mat add_axes(const cv::Mat& strip, const Item& item) {
  const int left = 56, bottom = 22, top = 6, right = 8;
  cv::Mat canvas(strip.rows + top + bottom, strip.cols + left + right, CV_8UC3,
                 cv::Scalar(255, 255, 255));
  strip.copyTo(canvas(cv::Rect(left, top, strip.cols, strip.rows)));
  const cv::Scalar ink(0, 0, 0);
  const int font = cv::FONT_HERSHEY_PLAIN;
  cv::rectangle(canvas, cv::Rect(left - 1, top - 1, strip.cols + 2, strip.rows + 2), ink);

  const Json& m = item.meta;
  const double sr = m.value("sample_rate", static_cast<double>(item.sample_rate));
  const double hop = m.value("hop_length", 0.0);
  const int64_t frames = item.tensor.dim(-1);
  if (sr > 0 && hop > 0) {
    const double seconds = frames * hop / sr;
    // About one tick per 100 px, at a round step.
    const double raw = seconds / std::max(1, strip.cols / 100);
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double step = raw / mag < 2 ? mag : raw / mag < 5 ? 2 * mag : 5 * mag;
    for (double t = 0; t <= seconds + 1e-9; t += step) {
      const int x = left + static_cast<int>(std::lround(t / seconds * (strip.cols - 1)));
      cv::line(canvas, {x, top + strip.rows}, {x, top + strip.rows + 4}, ink);
      char label[32];
      std::snprintf(label, sizeof label, step < 1 ? "%.1fs" : "%.0fs", t);
      cv::putText(canvas, label, {x - 8, top + strip.rows + 17}, font, 0.9, ink);
    }
  }
  auto hz_label = [](double hz) {
    char b[32];
    std::snprintf(b, sizeof b, hz >= 1000 ? "%.1fk" : "%.0f", hz >= 1000 ? hz / 1000 : hz);
    return std::string(b);
  };
  const double f_min = m.value("f_min", 0.0), f_max = m.value("f_max", sr / 2);
  const std::string scale = m.value("freq_scale", std::string("linear"));
  cv::putText(canvas, hz_label(f_max), {2, top + 10}, font, 0.9, ink);
  cv::putText(canvas, hz_label(f_min), {2, top + strip.rows}, font, 0.9, ink);
  cv::putText(canvas, scale == "mel" ? "Hz mel" : "Hz", {2, top + strip.rows / 2 + 4}, font, 0.9,
              ink);
  return canvas;
}

}  // namespace

cv::Mat WritePngStage::render(const Item& item) const {
  const Tensor& t = item.tensor;
  if (item.kind == Kind::Image) {
    if (t.dtype() != DType::U8 || t.ndim() != 3 || t.dim(2) != 3)
      throw ItemFailure("expected an image u8 [height, width, 3], got " + t.shape_str());
    cv::Mat rgb(static_cast<int>(t.dim(0)), static_cast<int>(t.dim(1)), CV_8UC3,
                const_cast<uint8_t*>(t.data<uint8_t>()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    return bgr;
  }
  if (item.kind == Kind::ImageTensor) {
    if (t.dtype() != DType::F32 || t.ndim() != 3 || t.dim(0) != 3)
      throw ItemFailure("expected an image tensor f32 [3, height, width], got " + t.shape_str());
    const int h = static_cast<int>(t.dim(1)), w = static_cast<int>(t.dim(2));
    const float* x = t.data<float>();
    const auto [lo, hi] = std::minmax_element(x, x + t.numel());
    const float span = *hi - *lo > 0 ? *hi - *lo : 1.0f;
    cv::Mat bgr(h, w, CV_8UC3);
    const size_t plane = static_cast<size_t>(h) * w;
    for (int y = 0; y < h; ++y)
      for (int xx = 0; xx < w; ++xx)
        for (int c = 0; c < 3; ++c)
          bgr.at<cv::Vec3b>(y, xx)[2 - c] =
              cv::saturate_cast<uint8_t>((x[c * plane + y * w + xx] - *lo) / span * 255.0f + 0.5f);
    return bgr;
  }
  int rows = 0, cols = 0;
  std::vector<float> unit = scale_spectrogram(t, scaling_, rows, cols);
  cv::Mat gray(rows, cols, CV_32F, unit.data()), u8;
  if (height_ && height_ != rows) {
    cv::Mat sized;
    cv::resize(gray, sized, cv::Size(cols, height_), 0, 0, cv::INTER_LINEAR);
    gray = sized;
  }
  gray.convertTo(u8, CV_8U, 255.0, 0.5);
  cv::Mat strip;
  if (colormap_ < 0)
    cv::cvtColor(u8, strip, cv::COLOR_GRAY2BGR);
  else
    cv::applyColorMap(u8, strip, colormap_);
  return axes_ ? add_axes(strip, item) : strip;
}

void WritePngStage::write(const Item& item) {
  const cv::Mat img = render(item);
  std::vector<uint8_t> png;
  try {
    png = encode_png(img.data, img.cols, img.rows, img.channels(), img.step);
  } catch (const std::exception& e) {
    throw ItemFailure(e.what());
  }
  const std::string path = png_path_for(dir_, item.id);
  // Ids that differ only in what sanitising removes (`cat`, `./cat`) would share a file.
  if (!written_.insert(path).second)
    throw ItemFailure("write.png: item '" + item.id + "' would overwrite " + path +
                      ", written for an earlier item of this run");
  AtomicFile f(path);
  f.write(png.data(), png.size());
  f.commit();
  outputs_.push_back(path);
}

}  // namespace embedflow
