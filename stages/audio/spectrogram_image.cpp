#include "stages/audio/spectrogram_image.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "embedflow/errors.h"
#include "embedflow/params.h"

namespace embedflow {

namespace {

struct NamedColormap {
  const char* name;
  int id;
};
const NamedColormap kColormaps[] = {
    {"viridis", cv::COLORMAP_VIRIDIS}, {"magma", cv::COLORMAP_MAGMA},
    {"inferno", cv::COLORMAP_INFERNO}, {"plasma", cv::COLORMAP_PLASMA},
    {"turbo", cv::COLORMAP_TURBO},     {"jet", cv::COLORMAP_JET},
    {"hot", cv::COLORMAP_HOT},         {"bone", cv::COLORMAP_BONE},
};

int interpolation_id(const std::string& name) {
  if (name == "nearest") return cv::INTER_NEAREST;
  if (name == "cubic") return cv::INTER_CUBIC;
  if (name == "area") return cv::INTER_AREA;
  return cv::INTER_LINEAR;
}

}  // namespace

const std::vector<std::string>& colormap_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n{"gray"};
    for (const auto& c : kColormaps) n.push_back(c.name);
    return n;
  }();
  return names;
}

int colormap_id(const std::string& name) {
  for (const auto& c : kColormaps)
    if (name == c.name) return c.id;
  return -1;
}

std::vector<float> scale_spectrogram(const Tensor& spec, const SpectrogramScaling& s, int& rows,
                                     int& cols) {
  const bool ok =
      spec.dtype() == DType::F32 && (spec.ndim() == 2 || (spec.ndim() == 3 && spec.dim(0) == 1));
  if (!ok)
    throw ItemFailure("expected a spectrogram f32 [freq, frames] (or [1, freq, frames]), got " +
                      std::string(dtype_name(spec.dtype())) + " " + spec.shape_str() +
                      (spec.ndim() == 3 ? " (load audio with mono: true)" : ""));
  rows = static_cast<int>(spec.dim(-2));
  cols = static_cast<int>(spec.dim(-1));
  if (rows < 1 || cols < 1) throw ItemFailure("empty spectrogram " + spec.shape_str());
  const float* x = spec.data<float>();
  const size_t n = static_cast<size_t>(rows) * cols;
  double lo = s.lo, hi = s.hi;
  if (s.min_max) {
    lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(x[i])) continue;  // log(0) = -inf must not flatten the rest
      lo = std::min<double>(lo, x[i]);
      hi = std::max<double>(hi, x[i]);
    }
    if (!(lo <= hi)) lo = hi = 0.0;  // nothing finite
  }
  const double span = hi - lo;
  const float inv = span > 0 ? static_cast<float>(1.0 / span) : 0.0f;
  std::vector<float> out(n);
  for (int r = 0; r < rows; ++r) {
    const float* src = x + static_cast<size_t>(r) * cols;
    float* dst = out.data() + static_cast<size_t>(s.flip ? rows - 1 - r : r) * cols;
    for (int c = 0; c < cols; ++c) {
      const float v = std::isnan(src[c]) ? 0.0f : (src[c] - static_cast<float>(lo)) * inv;
      dst[c] = std::clamp(v, 0.0f, 1.0f);
    }
  }
  return out;
}

StageSchema spectrogram_image_schema() {
  StageSchema s;
  s.type = "spectrogram.image";
  s.kind = StageKind::Map;
  s.summary = "Turn a spectrogram into a normalised 3-channel image tensor for an image encoder.";
  s.doc =
      "Scales values to [0, 1] (`scale: min-max` per item, or `scale: range` clipping to "
      "`range: [lo, hi]`, e.g. dB), puts low frequencies at the bottom (`flip`), resizes the "
      "intensity image to `height`×`width` with OpenCV, makes three channels (`channels: "
      "replicate`, or `colormap` through an OpenCV colormap, as RGB) and normalises with a "
      "mean/std preset. Output: ImageTensor f32 [3, height, width]. Multi-channel "
      "spectrograms [C, F, T] with C > 1 are rejected: load audio with `mono: true`.";
  s.inputs = {{"in", {Kind::Spectrogram}, "spectrogram f32 [freq, frames]"}};
  s.output = Kind::ImageTensor;
  s.params = {
      ParamSpec::enumeration("scale", "min-max", {"min-max", "range"})
          .describe("min-max: per-item minimum→0, maximum→1; range: the fixed `range`."),
      ParamSpec::floats("range").describe("[lo, hi] for scale: range (default [-80, 0] dB)."),
      ParamSpec::boolean("flip", true).describe("Low frequencies at the bottom of the image."),
      ParamSpec::enumeration("channels", "replicate", {"replicate", "colormap"})
          .describe("replicate: gray in all three channels; colormap: `colormap` colours."),
      ParamSpec::enumeration("colormap", "viridis", colormap_names())
          .describe("OpenCV colormap for channels: colormap."),
      ParamSpec::integer("height", 224).range(0, 16384).describe("Output height (0: n_freq)."),
      ParamSpec::integer("width", 224).range(0, 16384).describe("Output width (0: n_frames)."),
      ParamSpec::enumeration("interpolation", "linear", {"linear", "nearest", "cubic", "area"})
          .describe("OpenCV resize interpolation."),
      ParamSpec::enumeration("normalize", "imagenet", {"imagenet", "clip", "none"})
          .describe("Mean/std preset applied last (none: values stay in [0, 1])."),
  };
  return s;
}

SpectrogramImageStage::SpectrogramImageStage(const Params& p) {
  scaling_.min_max = p.get_string("scale") == "min-max";
  if (p.has("range")) {
    const std::vector<double> r = p.get_floats("range");
    if (r.size() != 2 || !(r[0] < r[1]))
      throw p.error("range", "range must be [lo, hi] with lo < hi");
    scaling_.lo = r[0];
    scaling_.hi = r[1];
  }
  scaling_.flip = p.get_bool("flip");
  if (p.get_string("channels") == "colormap") {
    colormap_ = colormap_id(p.get_string("colormap"));
    // "gray" through the colormap path is just replication.
  }
  height_ = static_cast<int>(p.get_int("height"));
  width_ = static_cast<int>(p.get_int("width"));
  interpolation_ = interpolation_id(p.get_string("interpolation"));
  mean_std_ = mean_std_preset(p.get_string("normalize"));
}

void SpectrogramImageStage::process(const Item& in, Item& out) {
  int rows = 0, cols = 0;
  std::vector<float> unit = scale_spectrogram(in.tensor, scaling_, rows, cols);
  cv::Mat gray(rows, cols, CV_32F, unit.data());
  const int h = height_ ? height_ : rows, w = width_ ? width_ : cols;
  cv::Mat sized;
  if (h != rows || w != cols)
    cv::resize(gray, sized, cv::Size(w, h), 0, 0, interpolation_);
  else
    sized = gray;
  cv::min(cv::max(sized, 0.0), 1.0, sized);  // cubic overshoots

  Tensor t(DType::F32, {3, h, w});
  float* dst = t.data<float>();
  const size_t plane = static_cast<size_t>(h) * w;
  if (colormap_ < 0) {
    for (int y = 0; y < h; ++y) {
      const float* src = sized.ptr<float>(y);
      for (int c = 0; c < 3; ++c) std::copy(src, src + w, dst + c * plane + y * w);
    }
  } else {
    cv::Mat u8, bgr;
    sized.convertTo(u8, CV_8U, 255.0);
    cv::applyColorMap(u8, bgr, colormap_);
    for (int y = 0; y < h; ++y) {
      const cv::Vec3b* px = bgr.ptr<cv::Vec3b>(y);
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) dst[c * plane + y * w + x] = px[x][2 - c] / 255.0f;  // RGB
    }
  }
  if (mean_std_) {
    for (int c = 0; c < 3; ++c) {
      const float m = mean_std_->mean[c], sd = mean_std_->std[c];
      float* p = dst + c * plane;
      for (size_t i = 0; i < plane; ++i) p[i] = (p[i] - m) / sd;  // as torchvision Normalize
    }
  }
  out.kind = Kind::ImageTensor;
  out.tensor = std::move(t);
  out.sample_rate = in.sample_rate;
}

}  // namespace embedflow
