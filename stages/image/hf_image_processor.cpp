#include "stages/image/hf_image_processor.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "stages/image/transforms.h"

namespace embedflow::image {
namespace {

// PIL's fixed-point precision for 8-bit resampling (Resample.c: 32 - 8 - 2).
constexpr int kPrecisionBits = 22;

using Filter = models::ImageProcessorConfig::Filter;

// PIL's filters (Resample.c): bicubic with a = -0.5 and support 2, bilinear (triangle) with
// support 1.
double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double filter_support(Filter f) {
  return f == Filter::Bicubic ? 2.0 : 1.0;
}

double filter_value(Filter f, double x) {
  return f == Filter::Bicubic ? bicubic(x) : bilinear(x);
}

// For each output position: the first input index, the tap count and the fixed-point weights.
struct Taps {
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // out_size * ksize
  int ksize = 0;
};

Taps precompute(int in_size, int out_size, Filter filter) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_support(filter) * filter_scale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> k(t.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    // (int) truncates toward zero, as in PIL
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = filter_value(filter, (x + xmin - center + 0.5) / filter_scale);
      sum += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = sum != 0.0 ? k[x] / sum : k[x];
      t.weights[static_cast<size_t>(xx) * t.ksize + x] = static_cast<int32_t>(
          w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    t.first[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;  // arithmetic shift: floor
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One separable pass over u8 [rows, cols, 3] along `cols` (horizontal) or `rows` (vertical).
Tensor resample_pass(const Tensor& in, int out_len, bool horizontal, Filter filter) {
  const int h = static_cast<int>(in.dim(0)), w = static_cast<int>(in.dim(1));
  const Taps taps = precompute(horizontal ? w : h, out_len, filter);
  const int oh = horizontal ? h : out_len, ow = horizontal ? out_len : w;
  Tensor out(DType::U8, {oh, ow, 3});
  const uint8_t* src = in.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      const int o = horizontal ? x : y;
      const int32_t* k = &taps.weights[static_cast<size_t>(o) * taps.ksize];
      int32_t acc[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1),
                        1 << (kPrecisionBits - 1)};
      for (int i = 0; i < taps.count[o]; ++i) {
        const int sy = horizontal ? y : taps.first[o] + i;
        const int sx = horizontal ? taps.first[o] + i : x;
        const uint8_t* px = src + (static_cast<size_t>(sy) * w + sx) * 3;
        for (int c = 0; c < 3; ++c) acc[c] += px[c] * k[i];
      }
      uint8_t* q = dst + (static_cast<size_t>(y) * ow + x) * 3;
      for (int c = 0; c < 3; ++c) q[c] = clip8(acc[c]);
    }
  }
  return out;
}

// u8 [H, W, C∈{1,3,4}] or [H, W] → u8 [H, W, 3].
Tensor to_rgb(const Tensor& img) {
  if (img.dtype() != DType::U8 || (img.ndim() != 2 && img.ndim() != 3))
    throw std::invalid_argument("expected an image u8 [H, W, 3], got " +
                                std::string(dtype_name(img.dtype())) + " " + img.shape_str());
  const int64_t c = img.ndim() == 2 ? 1 : img.dim(2);
  if (c == 3) return img;
  if (c != 1 && c != 4)
    throw std::invalid_argument("expected 1 (gray), 3 (RGB) or 4 (RGBA) channels, got " +
                                img.shape_str());
  const int64_t h = img.dim(0), w = img.dim(1);
  Tensor out(DType::U8, {h, w, 3});
  const uint8_t* s = img.data<uint8_t>();
  uint8_t* d = out.data<uint8_t>();
  for (int64_t i = 0; i < h * w; ++i)
    for (int k = 0; k < 3; ++k) d[i * 3 + k] = c == 1 ? s[i] : s[i * 4 + k];
  return out;
}

}  // namespace

Tensor pil_resize(const Tensor& rgb_u8, int out_h, int out_w, Filter filter) {
  if (out_h <= 0 || out_w <= 0)
    throw std::invalid_argument("resize to " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                                ": sizes must be positive");
  Tensor t = rgb_u8;
  // PIL resamples horizontally first, and skips a pass whose size does not change.
  if (out_w != t.dim(1)) t = resample_pass(t, out_w, /*horizontal=*/true, filter);
  if (out_h != t.dim(0)) t = resample_pass(t, out_h, /*horizontal=*/false, filter);
  return t;
}

Tensor hf_preprocess(const Tensor& image_u8, const models::ImageProcessorConfig& cfg,
                     Resample resample) {
  Tensor img = to_rgb(image_u8);
  if (img.dim(0) < 1 || img.dim(1) < 1)
    throw std::invalid_argument("empty image " + img.shape_str());
  if (cfg.do_resize) {
    const auto [h, w] =
        cfg.exact_size
            ? std::make_pair(static_cast<int>(cfg.height), static_cast<int>(cfg.width))
            : shorter_side_size(static_cast<int>(img.dim(0)), static_cast<int>(img.dim(1)),
                                static_cast<int>(cfg.shortest_edge));
    img = resample == Resample::Pil
              ? pil_resize(img, h, w, cfg.resample)
              : resize(img, h, w,
                       cfg.resample == Filter::Bicubic ? Interpolation::Bicubic
                                                       : Interpolation::Bilinear,
                       /*antialias=*/true);
  }
  if (cfg.do_center_crop) {
    const int ch = static_cast<int>(cfg.crop_height), cw = static_cast<int>(cfg.crop_width);
    if (resample == Resample::Torchvision || img.dim(0) < ch || img.dim(1) < cw) {
      img = center_crop(img, ch, cw);  // zero-pads a small image, as both libraries do
    } else {
      const int64_t top = (img.dim(0) - ch) / 2, left = (img.dim(1) - cw) / 2;
      Tensor crop(DType::U8, {ch, cw, 3});
      const uint8_t* s = img.data<uint8_t>();
      for (int y = 0; y < ch; ++y)
        std::copy_n(s + ((top + y) * img.dim(1) + left) * 3, cw * 3,
                    crop.data<uint8_t>() + static_cast<size_t>(y) * cw * 3);
      img = crop;
    }
  }
  const int64_t h = img.dim(0), w = img.dim(1);
  Tensor out(DType::F32, {3, h, w});
  const uint8_t* s = img.data<uint8_t>();
  float* d = out.data<float>();
  const double scale = cfg.do_rescale ? cfg.rescale_factor : 1.0;
  for (int c = 0; c < 3; ++c) {
    const float mean = cfg.do_normalize ? cfg.mean[c] : 0.f;
    const float stddev = cfg.do_normalize ? cfg.std[c] : 1.f;
    for (int64_t i = 0; i < h * w; ++i)
      d[c * h * w + i] = (static_cast<float>(s[i * 3 + c] * scale) - mean) / stddev;
  }
  return out;
}

}  // namespace embedflow::image
