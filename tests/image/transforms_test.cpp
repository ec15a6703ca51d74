// image transforms vs torchvision 0.14's tensor path (outputs saved by gen_resnet.py).
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "stages/image/transforms.h"
#include "tests/image/image_test_util.h"

using namespace embedflow;
using namespace embedflow::test;

namespace {

struct U8Diff {
  int max_abs = 0;
  double frac_differing = 0;
};

U8Diff diff_u8(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  U8Diff d;
  int64_t n = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const int e = std::abs(int(a.data<uint8_t>()[i]) - int(b.data<uint8_t>()[i]));
    d.max_abs = std::max(d.max_abs, e);
    n += e != 0;
  }
  d.frac_differing = double(n) / double(a.numel());
  return d;
}

image::Interpolation interp(const std::string& name) {
  return image::interpolation_from_name(name);
}

}  // namespace

TEST_CASE("resize matches torchvision's tensor resize (antialias on and off)") {
  std::ifstream f(gen("resize/cases.json"));
  const nlohmann::json cases = nlohmann::json::parse(f);
  REQUIRE(cases.size() >= 20);
  int worst = 0;
  double worst_frac = 0;
  for (const auto& c : cases) {
    const std::string name = c["name"];
    const Tensor src = load_npy(gen("resize/" + c["src"].get<std::string>() + ".npy"));
    const Tensor out = image::resize(src, c["h"], c["w"], interp(c["mode"]), c["antialias"]);
    const U8Diff d = diff_u8(out, load_npy(gen("resize/" + name + ".npy")));
    INFO(name << ": max |d| = " << d.max_abs << ", differing " << d.frac_differing * 100 << "%");
    if (c["mode"] == "nearest") {
      CHECK(d.max_abs == 0);
    } else {
      // Only float summation-order rounding flips: ±1 on a small fraction of values.
      CHECK(d.max_abs <= 1);
      CHECK(d.frac_differing <= 0.01);
    }
    worst = std::max(worst, d.max_abs);
    worst_frac = std::max(worst_frac, d.frac_differing);
  }
  WARN("resize vs torchvision tensor path: worst max|d| = " << worst
                                                            << " (u8 levels), worst "
                                                               "fraction of differing values = "
                                                            << worst_frac * 100 << "%");
}

TEST_CASE("shorter-side resize picks torchvision's output size") {
  const Tensor src = load_npy(gen("resize/noise.npy"));  // 61 x 83
  for (int size : {32, 50, 100}) {
    const Tensor ref = load_npy(gen("resize/short_" + std::to_string(size) + ".npy"));
    const Tensor out = image::resize_shorter_side(src, size, image::Interpolation::Bilinear, true);
    INFO("size " << size);
    REQUIRE(out.shape() == ref.shape());
    CHECK(diff_u8(out, ref).max_abs <= 1);
  }
  CHECK(image::shorter_side_size(300, 451, 256) == std::make_pair(256, 384));
  CHECK(image::shorter_side_size(640, 427, 256) == std::make_pair(383, 256));
}

TEST_CASE("center crop matches torchvision (odd margins round half-to-even, padding)") {
  const Tensor src = load_npy(gen("resize/noise.npy"));
  for (auto [h, w] : {std::pair{20, 30}, {21, 31}, {60, 82}, {70, 90}}) {
    INFO(h << "x" << w);
    const Tensor ref =
        load_npy(gen("resize/crop_" + std::to_string(h) + "x" + std::to_string(w) + ".npy"));
    CHECK(diff_u8(image::center_crop(src, h, w), ref).max_abs == 0);
  }
}

TEST_CASE("to_normalized_chw equals torchvision's x/255 then Normalize") {
  const Tensor src = load_npy(gen("resize/noise.npy"));
  const Tensor ref = load_npy(gen("resize/normalized_imagenet.npy"));
  const Diff d = diff(image::to_normalized_chw(src, kImagenetMeanStd), ref);
  CHECK(d.max_abs <= 1e-6);
  const Tensor raw = image::to_normalized_chw(src, std::nullopt);
  CHECK(raw.data<float>()[0] == float(src.data<uint8_t>()[0]) / 255.0f);
}

TEST_CASE("float CHW resize agrees with the u8 path before rounding") {
  const Tensor src = load_npy(gen("resize/smooth.npy"));
  const Tensor chw = image::to_normalized_chw(src, std::nullopt);  // [0, 1]
  const Tensor small = image::resize_chw(chw, 24, 31, image::Interpolation::Bilinear, true);
  const Tensor ref = load_npy(gen("resize/smooth_bilinear_24x31_aa.npy"));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 24 * 31; ++i)
      CHECK(std::fabs(small.data<float>()[c * 24 * 31 + i] * 255.0f -
                      ref.data<uint8_t>()[i * 3 + c]) <= 0.5f + 1e-3f);
  CHECK(image::center_crop_chw(chw, 10, 10).shape() == std::vector<int64_t>{3, 10, 10});
}

TEST_CASE("transforms reject malformed input with a message") {
  Tensor f(DType::F32, {4, 4, 3});
  CHECK_THROWS_WITH(image::resize(f, 2, 2, image::Interpolation::Bilinear, true),
                    Catch::Contains("expected an RGB image u8 [H, W, 3]"));
  Tensor u(DType::U8, {4, 4, 3});
  CHECK_THROWS_WITH(image::resize(u, 0, 2, image::Interpolation::Bilinear, true),
                    Catch::Contains("must be positive"));
  CHECK_THROWS_WITH(image::interpolation_from_name("lanczos"),
                    Catch::Contains("unknown interpolation"));
}

TEST_CASE("resize_center_crop equals center_crop(resize(...)) value for value") {
  // A synthetic image with edges and gradients; sizes with odd crop margins, up- and
  // downscaling, and a crop larger than the resize (the zero-padding fallback).
  Tensor img(DType::U8, {75, 101, 3});
  for (int64_t i = 0; i < img.numel(); ++i)
    img.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + (i / 303) * 11) % 256);
  struct Case {
    int oh, ow, ch, cw;
  };
  for (const Case c : {Case{64, 87, 56, 56}, Case{57, 77, 40, 51}, Case{150, 202, 131, 97},
                       Case{75, 101, 64, 64}, Case{40, 54, 48, 30}})
    for (const char* mode : {"nearest", "bilinear", "bicubic"})
      for (bool aa : {true, false}) {
        const Tensor want =
            image::center_crop(image::resize(img, c.oh, c.ow, interp(mode), aa), c.ch, c.cw);
        const Tensor got = image::resize_center_crop(img, c.oh, c.ow, c.ch, c.cw, interp(mode), aa);
        INFO(c.oh << "x" << c.ow << " crop " << c.ch << "x" << c.cw << " " << mode << " aa=" << aa);
        REQUIRE(got.shape() == want.shape());
        CHECK(std::memcmp(got.data<uint8_t>(), want.data<uint8_t>(), size_t(got.numel())) == 0);
      }
}
