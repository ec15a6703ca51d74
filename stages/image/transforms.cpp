#include "stages/image/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace embedflow::image {

namespace {

// Resampling weights for one axis: output o reads input indices idx[start[o] .. start[o+1]).
struct Taps {
  std::vector<int64_t> start;
  std::vector<int64_t> idx;
  std::vector<float> w;
};

float aa_filter_linear(float x) {
  x = std::fabs(x);
  return x < 1.0f ? 1.0f - x : 0.0f;
}

// Keys' cubic with a = -0.5, as torch's antialiased bicubic and PIL use.
float aa_filter_cubic(float x) {
  constexpr float a = -0.5f;
  x = std::fabs(x);
  if (x < 1.0f) return ((a + 2.0f) * x - (a + 3.0f)) * x * x + 1.0f;
  if (x < 2.0f) return (((x - 5.0f) * x + 8.0f) * x - 4.0f) * a;
  return 0.0f;
}

// torch's _compute_indices_weights_aa: a filter of support `interp_size / 2`, widened by the
// scale on downscaling, clipped to the image and renormalised.
Taps antialias_taps(int64_t in, int64_t out, bool cubic) {
  Taps t;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const float interp_size = cubic ? 4.0f : 2.0f;
  const float support = scale >= 1.0f ? interp_size * 0.5f * scale : interp_size * 0.5f;
  const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  for (int64_t o = 0; o < out; ++o) {
    t.start.push_back(static_cast<int64_t>(t.idx.size()));
    const float center = scale * (static_cast<float>(o) + 0.5f);
    const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5f), 0);
    const int64_t xsize =
        std::min<int64_t>(static_cast<int64_t>(center + support + 0.5f), in) - xmin;
    const size_t first = t.w.size();
    float total = 0.0f;
    for (int64_t j = 0; j < xsize; ++j) {
      const float x = (static_cast<float>(j + xmin) - center + 0.5f) * invscale;
      const float w = cubic ? aa_filter_cubic(x) : aa_filter_linear(x);
      t.idx.push_back(xmin + j);
      t.w.push_back(w);
      total += w;
    }
    if (total != 0.0f)
      for (size_t k = first; k < t.w.size(); ++k) t.w[k] /= total;
  }
  t.start.push_back(static_cast<int64_t>(t.idx.size()));
  return t;
}

// torch's upsample_bilinear2d (align_corners=False): source index clamped at 0.
Taps bilinear_taps(int64_t in, int64_t out) {
  Taps t;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    t.start.push_back(static_cast<int64_t>(t.idx.size()));
    float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    const int64_t i0 = std::min<int64_t>(static_cast<int64_t>(std::floor(src)), in - 1);
    const float l1 = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
    const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    t.idx.insert(t.idx.end(), {i0, i1});
    t.w.insert(t.w.end(), {1.0f - l1, l1});
  }
  t.start.push_back(static_cast<int64_t>(t.idx.size()));
  return t;
}

// torch's upsample_bicubic2d (align_corners=False, a = -0.75), indices clamped to the image.
Taps bicubic_taps(int64_t in, int64_t out) {
  constexpr float A = -0.75f;
  auto conv1 = [](float x) { return ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f; };
  auto conv2 = [](float x) { return ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A; };
  Taps t;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    t.start.push_back(static_cast<int64_t>(t.idx.size()));
    const float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    const int64_t i0 = static_cast<int64_t>(std::floor(src));
    const float x = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
    const float w[4] = {conv2(x + 1.0f), conv1(x), conv1(1.0f - x), conv2(2.0f - x)};
    for (int k = 0; k < 4; ++k) {
      t.idx.push_back(std::min<int64_t>(std::max<int64_t>(i0 - 1 + k, 0), in - 1));
      t.w.push_back(w[k]);
    }
  }
  t.start.push_back(static_cast<int64_t>(t.idx.size()));
  return t;
}

// torch's "nearest": floor(o * in / out).
Taps nearest_taps(int64_t in, int64_t out) {
  Taps t;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    t.start.push_back(o);
    t.idx.push_back(std::min<int64_t>(static_cast<int64_t>(std::floor(o * scale)), in - 1));
    t.w.push_back(1.0f);
  }
  t.start.push_back(out);
  return t;
}

Taps make_taps(int64_t in, int64_t out, Interpolation interp, bool antialias) {
  switch (interp) {
    case Interpolation::Nearest:
      return nearest_taps(in, out);
    case Interpolation::Bilinear:
      return antialias ? antialias_taps(in, out, false) : bilinear_taps(in, out);
    case Interpolation::Bicubic:
      return antialias ? antialias_taps(in, out, true) : bicubic_taps(in, out);
  }
  throw std::logic_error("bad interpolation");
}

// Resamples the middle axis of a [outer, n_in, inner] float array to [outer, n_out, inner].
// Sums run over taps in order, each output starting from its first product, like torch.
std::vector<float> resample_axis(const float* src, int64_t outer, int64_t n_in, int64_t inner,
                                 const Taps& taps) {
  const int64_t n_out = static_cast<int64_t>(taps.start.size()) - 1;
  std::vector<float> dst(static_cast<size_t>(outer * n_out * inner));
  for (int64_t a = 0; a < outer; ++a) {
    const float* s = src + a * n_in * inner;
    float* d = dst.data() + a * n_out * inner;
    for (int64_t o = 0; o < n_out; ++o) {
      float* row = d + o * inner;
      const int64_t b = taps.start[o], e = taps.start[o + 1];
      const float w0 = taps.w[b];
      const float* s0 = s + taps.idx[b] * inner;
      for (int64_t k = 0; k < inner; ++k) row[k] = s0[k] * w0;
      for (int64_t j = b + 1; j < e; ++j) {
        const float w = taps.w[j];
        const float* sj = s + taps.idx[j] * inner;
        for (int64_t k = 0; k < inner; ++k) row[k] += sj[k] * w;
      }
    }
  }
  return dst;
}

void check_hwc_u8(const Tensor& t, const char* who) {
  if (t.dtype() != DType::U8 || t.ndim() != 3 || t.dim(2) != 3)
    throw std::invalid_argument(std::string(who) + ": expected an RGB image u8 [H, W, 3], got " +
                                dtype_name(t.dtype()) + " " + t.shape_str());
}

void check_size(int h, int w, const char* who) {
  if (h <= 0 || w <= 0)
    throw std::invalid_argument(std::string(who) + ": output size must be positive, got " +
                                std::to_string(h) + "x" + std::to_string(w));
}

}  // namespace

Interpolation interpolation_from_name(const std::string& name) {
  if (name == "nearest") return Interpolation::Nearest;
  if (name == "bilinear") return Interpolation::Bilinear;
  if (name == "bicubic") return Interpolation::Bicubic;
  throw std::invalid_argument("unknown interpolation '" + name +
                              "' (expected nearest, bilinear, bicubic)");
}

namespace {

// The rows [top, top + win_h) and columns [left, left + win_w) of resize(rgb_u8, out_h, out_w):
// every output depends only on its own taps, so a crop of a resize needs only its window computed
// (for 256 → center crop 224 that is ~45% less work). Each value gets the same float operations
// in the same order as in the full resize.
Tensor resize_window(const Tensor& rgb_u8, int out_h, int out_w, int top, int left, int win_h,
                     int win_w, Interpolation interp, bool antialias) {
  const int64_t w = rgb_u8.dim(1), c = 3;
  const uint8_t* src = rgb_u8.data<uint8_t>();
  Tensor out(DType::U8, {win_h, win_w, c});
  uint8_t* dst = out.data<uint8_t>();

  if (interp == Interpolation::Nearest) {
    const Taps ty = nearest_taps(rgb_u8.dim(0), out_h), tx = nearest_taps(w, out_w);
    for (int64_t y = 0; y < win_h; ++y)
      for (int64_t x = 0; x < win_w; ++x)
        std::memcpy(dst + (y * win_w + x) * c, src + (ty.idx[top + y] * w + tx.idx[left + x]) * c,
                    c);
    return out;
  }

  // Width first, then height, both in float, as torch's separable kernel does; the width pass
  // only over the input rows the window's output rows read.
  const Taps tx = make_taps(w, out_w, interp, antialias);
  const Taps ty = make_taps(rgb_u8.dim(0), out_h, interp, antialias);
  const int64_t y_lo =
      *std::min_element(ty.idx.begin() + ty.start[top], ty.idx.begin() + ty.start[top + win_h]);
  const int64_t y_hi =
      *std::max_element(ty.idx.begin() + ty.start[top], ty.idx.begin() + ty.start[top + win_h]) + 1;
  const int64_t row_len = int64_t{win_w} * c;
  std::unique_ptr<float[]> horiz(new float[static_cast<size_t>((y_hi - y_lo) * row_len)]);
  for (int64_t y = y_lo; y < y_hi; ++y) {
    const uint8_t* s = src + y * w * c;
    float* d = horiz.get() + (y - y_lo) * row_len;
    for (int64_t x = 0; x < win_w; ++x) {
      const int64_t b = tx.start[left + x], e = tx.start[left + x + 1];
      const uint8_t* p = s + tx.idx[b] * c;
      const float w0 = tx.w[b];
      float a0 = float(p[0]) * w0, a1 = float(p[1]) * w0, a2 = float(p[2]) * w0;
      for (int64_t j = b + 1; j < e; ++j) {
        const uint8_t* q = s + tx.idx[j] * c;
        const float wj = tx.w[j];
        a0 += float(q[0]) * wj;
        a1 += float(q[1]) * wj;
        a2 += float(q[2]) * wj;
      }
      d[x * c] = a0;
      d[x * c + 1] = a1;
      d[x * c + 2] = a2;
    }
  }
  std::unique_ptr<float[]> row(new float[static_cast<size_t>(row_len)]);
  for (int64_t y = 0; y < win_h; ++y) {
    const int64_t b = ty.start[top + y], e = ty.start[top + y + 1];
    const float* s0 = horiz.get() + (ty.idx[b] - y_lo) * row_len;
    const float w0 = ty.w[b];
    for (int64_t k = 0; k < row_len; ++k) row[k] = s0[k] * w0;
    for (int64_t j = b + 1; j < e; ++j) {
      const float* sj = horiz.get() + (ty.idx[j] - y_lo) * row_len;
      const float wj = ty.w[j];
      for (int64_t k = 0; k < row_len; ++k) row[k] += sj[k] * wj;
    }
    uint8_t* out_row = dst + y * row_len;
    for (int64_t k = 0; k < row_len; ++k) {
      // torchvision: round half-to-even (torch.round), clamp (bicubic overshoots), cast. Clamping
      // first gives the same; adding and subtracting 1.5·2^23 rounds to nearest-even inline.
      const float v = std::min(std::max(row[k], 0.0f), 255.0f);
      out_row[k] = static_cast<uint8_t>((v + 12582912.0f) - 12582912.0f);
    }
  }
  return out;
}

// torchvision's center-crop offset: round((size - crop) / 2), half to even.
int crop_offset(int64_t size, int64_t crop) {
  return static_cast<int>(std::nearbyint((size - crop) / 2.0));
}

}  // namespace

Tensor resize(const Tensor& rgb_u8, int out_h, int out_w, Interpolation interp, bool antialias) {
  check_hwc_u8(rgb_u8, "resize");
  check_size(out_h, out_w, "resize");
  if (rgb_u8.dim(0) == out_h && rgb_u8.dim(1) == out_w)
    return rgb_u8;  // torchvision returns the input unchanged
  return resize_window(rgb_u8, out_h, out_w, 0, 0, out_h, out_w, interp, antialias);
}

Tensor resize_center_crop(const Tensor& rgb_u8, int out_h, int out_w, int crop_h, int crop_w,
                          Interpolation interp, bool antialias) {
  check_hwc_u8(rgb_u8, "resize_center_crop");
  check_size(out_h, out_w, "resize_center_crop");
  check_size(crop_h, crop_w, "resize_center_crop");
  const bool unchanged = rgb_u8.dim(0) == out_h && rgb_u8.dim(1) == out_w;
  if (unchanged || crop_h > out_h || crop_w > out_w)  // nothing to save, or zero padding
    return center_crop(resize(rgb_u8, out_h, out_w, interp, antialias), crop_h, crop_w);
  return resize_window(rgb_u8, out_h, out_w, crop_offset(out_h, crop_h), crop_offset(out_w, crop_w),
                       crop_h, crop_w, interp, antialias);
}

std::pair<int, int> shorter_side_size(int h, int w, int size) {
  if (h <= w) return {size, static_cast<int>(static_cast<int64_t>(size) * w / h)};
  return {static_cast<int>(static_cast<int64_t>(size) * h / w), size};
}

Tensor resize_shorter_side(const Tensor& rgb_u8, int size, Interpolation interp, bool antialias) {
  check_hwc_u8(rgb_u8, "resize_shorter_side");
  const auto [oh, ow] =
      shorter_side_size(static_cast<int>(rgb_u8.dim(0)), static_cast<int>(rgb_u8.dim(1)), size);
  return resize(rgb_u8, oh, ow, interp, antialias);
}

namespace {

// Copies the centred ch x cw window of an h x w image with c interleaved values per pixel
// (HWC; CHW planes are c = 1) into zero-initialised `dst`; out-of-image parts stay zero.
template <class T>
void crop_plane(const T* src, int64_t h, int64_t w, int64_t c, T* dst, int64_t ch, int64_t cw) {
  // torchvision: pad first when the crop is larger (padding split (d // 2, (d + 1) // 2)),
  // then crop_top = int(round((H - h) / 2)) with Python's half-to-even round.
  const int64_t pad_top = ch > h ? (ch - h) / 2 : 0, pad_left = cw > w ? (cw - w) / 2 : 0;
  const int64_t ph = std::max(h, ch), pw = std::max(w, cw);
  const int64_t top = static_cast<int64_t>(std::nearbyint((ph - ch) / 2.0));
  const int64_t left = static_cast<int64_t>(std::nearbyint((pw - cw) / 2.0));
  for (int64_t y = 0; y < ch; ++y) {
    const int64_t sy = y + top - pad_top;
    if (sy < 0 || sy >= h) continue;
    for (int64_t x = 0; x < cw; ++x) {
      const int64_t sx = x + left - pad_left;
      if (sx < 0 || sx >= w) continue;
      std::memcpy(dst + (y * cw + x) * c, src + (sy * w + sx) * c, sizeof(T) * c);
    }
  }
}

}  // namespace

Tensor center_crop(const Tensor& hwc, int crop_h, int crop_w) {
  check_size(crop_h, crop_w, "center_crop");
  if (hwc.ndim() != 3)
    throw std::invalid_argument("center_crop: expected [H, W, C], got " + hwc.shape_str());
  const int64_t h = hwc.dim(0), w = hwc.dim(1), c = hwc.dim(2);
  if (h == crop_h && w == crop_w) return hwc;
  Tensor out(hwc.dtype(), {crop_h, crop_w, c});
  if (hwc.dtype() == DType::U8)
    crop_plane(hwc.data<uint8_t>(), h, w, c, out.data<uint8_t>(), crop_h, crop_w);
  else if (hwc.dtype() == DType::F32)
    crop_plane(hwc.data<float>(), h, w, c, out.data<float>(), crop_h, crop_w);
  else
    throw std::invalid_argument("center_crop: expected u8 or f32, got " +
                                std::string(dtype_name(hwc.dtype())));
  return out;
}

Tensor to_normalized_chw(const Tensor& rgb_u8, const std::optional<MeanStd>& mean_std) {
  check_hwc_u8(rgb_u8, "to_normalized_chw");
  const int64_t h = rgb_u8.dim(0), w = rgb_u8.dim(1), n = h * w;
  Tensor out(DType::F32, {3, h, w});
  const uint8_t* src = rgb_u8.data<uint8_t>();
  float* dst = out.data<float>();
  // Same float ops as torchvision: x / 255, then (x - mean) / std; one pass over the pixels.
  float* r = dst;
  float* g = dst + n;
  float* b = dst + 2 * n;
  if (mean_std) {
    const auto& m = mean_std->mean;
    const auto& sd = mean_std->std;
    for (int64_t i = 0; i < n; ++i) {
      r[i] = (static_cast<float>(src[i * 3]) / 255.0f - m[0]) / sd[0];
      g[i] = (static_cast<float>(src[i * 3 + 1]) / 255.0f - m[1]) / sd[1];
      b[i] = (static_cast<float>(src[i * 3 + 2]) / 255.0f - m[2]) / sd[2];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      r[i] = static_cast<float>(src[i * 3]) / 255.0f;
      g[i] = static_cast<float>(src[i * 3 + 1]) / 255.0f;
      b[i] = static_cast<float>(src[i * 3 + 2]) / 255.0f;
    }
  }
  return out;
}

Tensor resize_chw(const Tensor& chw, int out_h, int out_w, Interpolation interp, bool antialias) {
  if (chw.dtype() != DType::F32 || chw.ndim() != 3)
    throw std::invalid_argument("resize_chw: expected f32 [C, H, W], got " +
                                std::string(dtype_name(chw.dtype())) + " " + chw.shape_str());
  check_size(out_h, out_w, "resize_chw");
  const int64_t c = chw.dim(0), h = chw.dim(1), w = chw.dim(2);
  if (h == out_h && w == out_w) return chw;
  std::vector<float> horiz =
      resample_axis(chw.data<float>(), c * h, w, 1, make_taps(w, out_w, interp, antialias));
  std::vector<float> both =
      resample_axis(horiz.data(), c, h, out_w, make_taps(h, out_h, interp, antialias));
  Tensor out(DType::F32, {c, out_h, out_w});
  std::copy(both.begin(), both.end(), out.data<float>());
  return out;
}

Tensor center_crop_chw(const Tensor& chw, int crop_h, int crop_w) {
  if (chw.dtype() != DType::F32 || chw.ndim() != 3)
    throw std::invalid_argument("center_crop_chw: expected f32 [C, H, W], got " + chw.shape_str());
  check_size(crop_h, crop_w, "center_crop_chw");
  const int64_t c = chw.dim(0), h = chw.dim(1), w = chw.dim(2);
  if (h == crop_h && w == crop_w) return chw;
  Tensor out(DType::F32, {c, crop_h, crop_w});
  for (int64_t k = 0; k < c; ++k)
    crop_plane(chw.data<float>() + k * h * w, h, w, 1, out.data<float>() + k * crop_h * crop_w,
               crop_h, crop_w);
  return out;
}

}  // namespace embedflow::image
