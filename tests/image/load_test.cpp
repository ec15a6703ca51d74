// image.load on every supported container and every bad-input class. Inputs are encoded here
// with OpenCV (or patched by hand) so each test states exactly what the file contains.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "embedflow/config.h"
#include "stages/image/load.h"
#include "tests/image/image_test_util.h"

using namespace embedflow;
using namespace embedflow::test;

namespace {

// 7 x 5 BGR pattern with distinct values per pixel and channel.
cv::Mat pattern(int rows = 5, int cols = 7) {
  cv::Mat m(rows, cols, CV_8UC3);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x)
      m.at<cv::Vec3b>(y, x) =
          cv::Vec3b(uint8_t(10 * x + y), uint8_t(200 - 9 * y), uint8_t(7 * x * y));
  return m;
}

std::string encode(const cv::Mat& m, const std::string& ext, std::vector<int> params = {}) {
  std::vector<uint8_t> buf;
  REQUIRE(cv::imencode(ext, m, buf, params));
  return std::string(buf.begin(), buf.end());
}

Tensor decode(const std::string& bytes, const ImageDecodeOptions& opt = {}) {
  return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.img", opt);
}

std::string decode_error(const std::string& bytes, const ImageDecodeOptions& opt = {}) {
  try {
    decode(bytes, opt);
  } catch (const ItemFailure& e) {
    return e.what();
  }
  return "";
}

// RGB at (y, x) of a decoded u8 [H, W, 3] tensor.
cv::Vec3b rgb_at(const Tensor& t, int y, int x) {
  const uint8_t* p = t.data<uint8_t>() + (y * t.dim(1) + x) * 3;
  return {p[0], p[1], p[2]};
}

void check_equals_bgr(const Tensor& t, const cv::Mat& bgr) {
  REQUIRE(t.shape() == std::vector<int64_t>{bgr.rows, bgr.cols, 3});
  for (int y = 0; y < bgr.rows; ++y)
    for (int x = 0; x < bgr.cols; ++x) {
      const cv::Vec3b b = bgr.at<cv::Vec3b>(y, x);
      CHECK(rgb_at(t, y, x) == cv::Vec3b(b[2], b[1], b[0]));
    }
}

}  // namespace

TEST_CASE("image.load decodes PNG, BMP, TIFF and lossless WebP to exact RGB") {
  const cv::Mat m = pattern();
  check_equals_bgr(decode(encode(m, ".png")), m);
  check_equals_bgr(decode(encode(m, ".bmp")), m);
  check_equals_bgr(decode(encode(m, ".tiff")), m);
  check_equals_bgr(decode(encode(m, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101})), m);
  const Tensor jpg = decode(encode(m, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 100}));
  CHECK(jpg.shape() == std::vector<int64_t>{5, 7, 3});
}

TEST_CASE("image.load: grayscale, 16-bit and alpha become RGB") {
  cv::Mat gray(3, 4, CV_8UC1);
  for (int i = 0; i < 12; ++i) gray.data[i] = uint8_t(i * 20);
  const Tensor g = decode(encode(gray, ".png"));
  REQUIRE(g.shape() == std::vector<int64_t>{3, 4, 3});
  CHECK(rgb_at(g, 2, 3) == cv::Vec3b(220, 220, 220));

  cv::Mat deep(1, 2, CV_16UC1);
  deep.at<uint16_t>(0, 0) = 65535;
  deep.at<uint16_t>(0, 1) = 257 * 100;
  const Tensor d = decode(encode(deep, ".png"));
  CHECK(rgb_at(d, 0, 0) == cv::Vec3b(255, 255, 255));
  CHECK(rgb_at(d, 0, 1) == cv::Vec3b(100, 100, 100));

  cv::Mat bgra(1, 2, CV_8UC4);
  bgra.at<cv::Vec4b>(0, 0) = {40, 80, 200, 255};  // opaque
  bgra.at<cv::Vec4b>(0, 1) = {40, 80, 200, 51};   // 20% opaque
  const std::string png = encode(bgra, ".png");
  const Tensor dropped = decode(png);
  CHECK(rgb_at(dropped, 0, 1) == cv::Vec3b(200, 80, 40));
  ImageDecodeOptions comp;
  comp.alpha = AlphaMode::Composite;
  comp.background = {0, 0, 0};
  const Tensor over_black = decode(png, comp);
  CHECK(rgb_at(over_black, 0, 0) == cv::Vec3b(200, 80, 40));
  CHECK(rgb_at(over_black, 0, 1) == cv::Vec3b(40, 16, 8));  // round(c * 51 / 255)
  comp.background = {255, 255, 255};
  CHECK(rgb_at(decode(png, comp), 0, 1) == cv::Vec3b(244, 220, 212));  // c*0.2 + 255*0.8
}

TEST_CASE("image.load applies the EXIF orientation of JPEGs") {
  // 16 wide x 8 high: left half red, right half blue.
  cv::Mat m(8, 16, CV_8UC3, cv::Scalar(0, 0, 255));
  m(cv::Rect(8, 0, 8, 8)).setTo(cv::Scalar(255, 0, 0));
  std::string jpg = encode(m, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 100});
  // APP1 "Exif" with one IFD entry: Orientation (0x0112) = 6, "rotate 90° clockwise to view".
  const std::string tiff(
      "II*\0\x08\0\0\0"
      "\x01\0"
      "\x12\x01\x03\0\x01\0\0\0\x06\0\0\0"
      "\0\0\0\0",
      26);
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  const size_t len = payload.size() + 2;
  const std::string app1 = std::string("\xFF\xE1", 2) + char(len >> 8) + char(len & 0xFF) + payload;
  jpg.insert(2, app1);
  const Tensor rotated = decode(jpg);
  REQUIRE(rotated.shape() == std::vector<int64_t>{16, 8, 3});
  CHECK(rgb_at(rotated, 2, 4)[0] > 200);   // top: red (the former left)
  CHECK(rgb_at(rotated, 13, 4)[2] > 200);  // bottom: blue
  ImageDecodeOptions keep;
  keep.exif_orientation = false;
  CHECK(decode(jpg, keep).shape() == std::vector<int64_t>{8, 16, 3});
}

TEST_CASE(
    "image.load: zero-byte, truncated JPEG, bad PNG CRC and garbage fail with the file name") {
  CHECK_THAT(decode_error(""), Catch::Contains("'x.img': empty file (0 bytes)"));
  const std::string jpg = encode(pattern(64, 64), ".jpg");
  CHECK_THAT(decode_error(jpg.substr(0, jpg.size() * 2 / 3)), Catch::Contains("truncated JPEG"));
  CHECK_THAT(decode_error(jpg.substr(0, 40)), Catch::Contains("x.img"));
  ImageDecodeOptions lenient;
  lenient.strict_jpeg = false;
  CHECK(decode(jpg.substr(0, jpg.size() * 2 / 3), lenient).shape() ==
        std::vector<int64_t>{64, 64, 3});

  std::string png = encode(pattern(), ".png");
  const size_t idat = png.find("IDAT");
  REQUIRE(idat != std::string::npos);
  const uint32_t len = (uint8_t(png[idat - 4]) << 24) | (uint8_t(png[idat - 3]) << 16) |
                       (uint8_t(png[idat - 2]) << 8) | uint8_t(png[idat - 1]);
  png[idat + 4 + len] ^= 0x5A;  // first CRC byte of IDAT
  CHECK_THAT(decode_error(png), Catch::Contains("cannot decode png"));

  CHECK_THAT(decode_error("hello, world"), Catch::Contains("not a recognised image"));
}

TEST_CASE("image.load: the pixel limit rejects decompression bombs before decoding") {
  std::string png = encode(pattern(), ".png");
  // IHDR width/height patched to 100000 x 100000 (10^10 pixels): rejected from the header.
  const std::string big("\x00\x01\x86\xA0\x00\x01\x86\xA0", 8);
  png.replace(16, 8, big);
  CHECK_THAT(decode_error(png),
             Catch::Contains("100000x100000 = 10000000000 pixels, over max_pixels"));
  // The limit is configurable.
  const std::string small = encode(pattern(), ".png");
  ImageDecodeOptions opt;
  opt.max_pixels = 34;
  CHECK_THAT(decode_error(small, opt), Catch::Contains("7x5 = 35 pixels, over max_pixels 34"));
  opt.max_pixels = 35;
  CHECK(decode_error(small, opt).empty());
  const std::string jpg = encode(pattern(), ".jpg");
  opt.max_pixels = 10;
  CHECK_THAT(decode_error(jpg, opt), Catch::Contains("jpeg header declares 7x5"));
  opt.max_pixels = 0;  // no limit
  CHECK(decode_error(jpg, opt).empty());
}

namespace {

// A minimal little-endian TIFF header: one IFD with ImageWidth (256) and ImageLength (257) of
// the given field type, and no image data.
std::string tiff_header(uint16_t field_type, uint32_t width, uint32_t height) {
  std::string t("II*\0\x08\0\0\0", 8);
  auto u16 = [&](uint16_t v) { t.push_back(char(v & 0xFF)), t.push_back(char(v >> 8)); };
  auto u32 = [&](uint32_t v) { u16(uint16_t(v & 0xFFFF)), u16(uint16_t(v >> 16)); };
  u16(2);
  for (auto [tag, value] : {std::pair<uint16_t, uint32_t>{256, width}, {257, height}}) {
    u16(tag);
    u16(field_type);
    u32(1);
    u32(value);
  }
  u32(0);  // no next IFD
  return t;
}

}  // namespace

TEST_CASE("image.load: TIFF size tags of every integer type feed the bomb guard") {
  // SHORT (3) cannot say 20000x20000 in 16 bits signed, so LONG (4) and SLONG (9) carry it;
  // SLONG once slipped past the guard and decoded 2.9 GB.
  for (uint16_t type : {uint16_t(4), uint16_t(9)}) {
    INFO("field type " << type);
    CHECK_THAT(decode_error(tiff_header(type, 20000, 20000)),
               Catch::Contains("20000x20000 = 400000000 pixels, over max_pixels"));
  }
  CHECK_THAT(decode_error(tiff_header(8, 20000, 30000)),
             Catch::Contains("20000x30000 = 600000000 pixels, over max_pixels"));
  // A header whose size cannot be read (a RATIONAL width) is not decoded at all.
  CHECK_THAT(decode_error(tiff_header(5, 20000, 20000)), Catch::Contains("no image size found"));
}

TEST_CASE("image.load: a WebP header cut at 30 bytes reads no byte past the buffer") {
  // VP8X's canvas height ends at byte 30: a 30-byte buffer must give no size (ASan-checked in
  // the sanitizer build; here the answer must be "no size", not a height read from beyond).
  std::string webp("RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\x0f\0\0\x0f\0", 30);
  REQUIRE(webp.size() == 30);
  const std::vector<uint8_t> exact(webp.begin(), webp.end());  // heap block of exactly 30 bytes
  CHECK_FALSE(image_header_size(exact.data(), exact.size()).has_value());
  webp.push_back('\0');
  const std::vector<uint8_t> whole(webp.begin(), webp.end());
  const auto size = image_header_size(whole.data(), whole.size());
  REQUIRE(size.has_value());
  CHECK(size->first == 16);
  CHECK(size->second == 16);
}

TEST_CASE("image.load: a FIFO among the inputs fails at once") {
  TempDir dir("imgfifo");
  const std::string fifo = dir.file("pipe.png");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  ImageLoadStage stage(resolve_params(image_load_schema(), "load", Json::object()));
  Item in;
  in.source = fifo;
  Item out = in.derive();
  auto pending = std::async(std::launch::async, [&] {
    try {
      stage.process(in, out);
      return std::string("loaded");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  });
  if (pending.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    FAIL("image.load blocked on a FIFO");
  }
  CHECK_THAT(pending.get(), Catch::Contains("FIFO") && Catch::Contains("not a regular file"));
}

TEST_CASE("image.load stage reads the file named by the item and reports missing files") {
  TempDir dir("imgload");
  write_file(dir.file("a.png"), encode(pattern(), ".png"));
  write_file(dir.file("empty.jpg"), "");
  const Params p = resolve_params(image_load_schema(), "load", {{"max_pixels", 1000}});
  ImageLoadStage stage(p);
  stage.open({});
  Item in;
  in.source = dir.file("a.png");
  Item out = in.derive();
  stage.process(in, out);
  CHECK(out.kind == Kind::Image);
  check_equals_bgr(out.tensor, pattern());

  in.source = dir.file("empty.jpg");
  CHECK_THROWS_WITH(stage.process(in, out),
                    Catch::Contains(dir.file("empty.jpg")) && Catch::Contains("empty file"));
  in.source = dir.file("nope.jpg");
  CHECK_THROWS_WITH(stage.process(in, out), Catch::Contains("no such file"));
  in.source = dir.path();
  CHECK_THROWS_WITH(stage.process(in, out), Catch::Contains("is a directory"));

  CHECK_THROWS(
      ImageLoadStage(resolve_params(image_load_schema(), "load", {{"background", {1, 2}}})));
}
