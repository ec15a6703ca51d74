// write.png's encoder (libpng) against OpenCV's imencode(".png"), which write.png used before and
// whose bytes the golden regression tests hold: the same pixels must give the same file.
#include <catch2/catch.hpp>

#include <random>

#include <opencv2/imgcodecs.hpp>

#include "stages/io/png_encode.h"

using namespace embedflow;

namespace {

std::vector<uint8_t> opencv_png(const cv::Mat& img) {
  std::vector<uint8_t> out;
  REQUIRE(cv::imencode(".png", img, out));
  return out;
}

}  // namespace

TEST_CASE("encode_png gives the bytes of OpenCV's imencode", "[io][write.png]") {
  std::mt19937 rng(7);
  struct Shape {
    int h, w, channels;
  };
  // Sizes of spectrogram strips, axes canvases and odd widths; smooth and noisy content (the
  // filter and the run-length strategy show on both).
  for (const Shape s : {Shape{128, 301, 3}, Shape{1, 1, 3}, Shape{7, 5, 1}, Shape{240, 640, 3},
                        Shape{33, 1000, 1}}) {
    for (const bool noisy : {false, true}) {
      cv::Mat img(s.h, s.w, s.channels == 3 ? CV_8UC3 : CV_8UC1);
      for (int y = 0; y < s.h; ++y)
        for (int x = 0; x < s.w * s.channels; ++x)
          img.ptr<uint8_t>(y)[x] =
              noisy ? static_cast<uint8_t>(rng() & 255) : static_cast<uint8_t>((x / 7 + y) & 255);
      INFO(s.h << "x" << s.w << "x" << s.channels << (noisy ? " noisy" : " smooth"));
      CHECK(encode_png(img.data, img.cols, img.rows, img.channels(), img.step) == opencv_png(img));
    }
  }
  SECTION("rows with padding (a view into a larger image)") {
    cv::Mat big(50, 80, CV_8UC3);
    cv::randu(big, 0, 256);
    const cv::Mat view = big(cv::Rect(3, 4, 61, 40));
    CHECK(encode_png(view.data, view.cols, view.rows, view.channels(), view.step) ==
          opencv_png(view.clone()));
  }
  SECTION("a decoder reads back the pixels") {
    cv::Mat img(20, 30, CV_8UC3);
    cv::randu(img, 0, 256);
    const auto png = encode_png(img.data, img.cols, img.rows, 3, img.step);
    const cv::Mat back = cv::imdecode(png, cv::IMREAD_COLOR);
    REQUIRE(back.size() == img.size());
    CHECK(cv::norm(back, img, cv::NORM_INF) == 0);
  }
  SECTION("an empty image is refused") {
    CHECK_THROWS(encode_png(nullptr, 0, 0, 3, 0));
  }
}
