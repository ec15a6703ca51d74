#include "stages/image/load.h"

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <system_error>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "embedflow/errors.h"
#include "embedflow/input_file.h"
#include "embedflow/params.h"

namespace embedflow {

namespace {

uint32_t be16(const uint8_t* p) {
  return (uint32_t(p[0]) << 8) | p[1];
}
uint32_t be32(const uint8_t* p) {
  return (be16(p) << 16) | be16(p + 2);
}
uint32_t le16(const uint8_t* p) {
  return (uint32_t(p[1]) << 8) | p[0];
}
uint32_t le32(const uint8_t* p) {
  return (le16(p + 2) << 16) | le16(p);
}

using Size = std::optional<std::pair<int64_t, int64_t>>;

Size jpeg_size(const uint8_t* d, size_t n) {
  size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) return std::nullopt;
    while (i < n && d[i] == 0xFF) ++i;  // fill bytes
    if (i >= n) return std::nullopt;
    const uint8_t m = d[i++];
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // no length
    if (m == 0xD9 || m == 0xDA || i + 2 > n) return std::nullopt;      // EOI/SOS before SOF
    const uint32_t len = be16(d + i);
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC).
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
      if (i + 7 > n) return std::nullopt;
      return std::make_pair<int64_t, int64_t>(be16(d + i + 5), be16(d + i + 3));
    }
    i += len;
  }
  return std::nullopt;
}

// The end-of-image marker after the first scan. Inside entropy-coded data 0xFF is always
// followed by 0x00 or a restart marker, so FF D9 there is the real EOI (an EXIF thumbnail's
// EOI comes before the first SOS and is skipped by walking the segments).
bool jpeg_has_eoi(const uint8_t* d, size_t n) {
  size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) return false;
    while (i < n && d[i] == 0xFF) ++i;
    if (i >= n) return false;
    const uint8_t m = d[i++];
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;
    if (m == 0xD9) return true;
    if (i + 2 > n) return false;
    const uint32_t len = be16(d + i);
    if (m == 0xDA) {
      for (size_t k = i + len; k + 1 < n; ++k)
        if (d[k] == 0xFF && d[k + 1] == 0xD9) return true;
      return false;
    }
    i += len;
  }
  return false;
}

Size tiff_size(const uint8_t* d, size_t n) {
  const bool le = d[0] == 'I';
  auto u16 = [&](size_t o) { return le ? le16(d + o) : be16(d + o); };
  auto u32 = [&](size_t o) { return le ? le32(d + o) : be32(d + o); };
  if (n < 8) return std::nullopt;
  const size_t ifd = u32(4);
  if (ifd + 2 > n) return std::nullopt;
  const uint32_t count = u16(ifd);
  int64_t w = -1, h = -1;
  for (uint32_t e = 0; e < count; ++e) {
    const size_t o = ifd + 2 + size_t(e) * 12;
    if (o + 12 > n) break;
    const uint32_t tag = u16(o), type = u16(o + 2);
    // SHORT, LONG and their signed twins SSHORT, SLONG: libtiff accepts all four for the size
    // tags, so the guard must read all four (an SLONG-tagged bomb once slipped past it).
    int64_t v = -1;
    if (type == 3) v = u16(o + 8);
    if (type == 4) v = u32(o + 8);
    if (type == 8) v = static_cast<int16_t>(u16(o + 8));
    if (type == 9) v = static_cast<int32_t>(u32(o + 8));
    if (tag == 256) w = v;
    if (tag == 257) h = v;
  }
  if (w < 0 || h < 0) return std::nullopt;
  return std::make_pair(w, h);
}

Size webp_size(const uint8_t* d, size_t n) {
  if (n < 31) return std::nullopt;  // VP8X's height ends at byte 30
  if (!std::memcmp(d + 12, "VP8 ", 4))
    return std::make_pair<int64_t, int64_t>(le16(d + 26) & 0x3FFF, le16(d + 28) & 0x3FFF);
  if (!std::memcmp(d + 12, "VP8L", 4)) {
    const uint8_t* b = d + 21;
    return std::make_pair<int64_t, int64_t>(1 + (b[0] | ((b[1] & 0x3F) << 8)),
                                            1 + ((b[1] >> 6) | (b[2] << 2) | ((b[3] & 0xF) << 10)));
  }
  if (!std::memcmp(d + 12, "VP8X", 4))
    return std::make_pair<int64_t, int64_t>(1 + (le32(d + 24) & 0xFFFFFF),
                                            1 + (le32(d + 27) & 0xFFFFFF));
  return std::nullopt;
}

std::vector<uint8_t> read_bytes(const std::string& path, int64_t max_bytes) {
  const uint64_t size = check_input_file(path);
  if (size == 0) throw ItemFailure("'" + path + "': empty file (0 bytes)");
  if (max_bytes > 0 && size > static_cast<uint64_t>(max_bytes))
    throw ItemFailure("'" + path + "': " + std::to_string(size) + " bytes exceeds max_file_bytes " +
                      std::to_string(max_bytes));
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ItemFailure("'" + path + "': cannot open: " + std::strerror(errno));
  std::vector<uint8_t> bytes(size);
  if (!f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    throw ItemFailure("'" + path + "': read error");
  return bytes;
}

}  // namespace

std::string sniff_image_format(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "jpeg";
  if (n >= 8 && !std::memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return "png";
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return "bmp";
  if (n >= 12 && !std::memcmp(d, "RIFF", 4) && !std::memcmp(d + 8, "WEBP", 4)) return "webp";
  if (n >= 4 && (!std::memcmp(d, "II*\0", 4) || !std::memcmp(d, "MM\0*", 4))) return "tiff";
  if (n >= 6 && (!std::memcmp(d, "GIF87a", 6) || !std::memcmp(d, "GIF89a", 6))) return "gif";
  return "";
}

std::optional<std::pair<int64_t, int64_t>> image_header_size(const uint8_t* d, size_t n) {
  const std::string fmt = sniff_image_format(d, n);
  if (fmt == "png" && n >= 24 && !std::memcmp(d + 12, "IHDR", 4))
    return std::make_pair<int64_t, int64_t>(be32(d + 16), be32(d + 20));
  if (fmt == "jpeg") return jpeg_size(d, n);
  if (fmt == "bmp" && n >= 26) {
    const int64_t w = static_cast<int32_t>(le32(d + 18)), h = static_cast<int32_t>(le32(d + 22));
    return std::make_pair(w < 0 ? -w : w, h < 0 ? -h : h);
  }
  if (fmt == "webp") return webp_size(d, n);
  if (fmt == "tiff") return tiff_size(d, n);
  if (fmt == "gif" && n >= 10) return std::make_pair<int64_t, int64_t>(le16(d + 6), le16(d + 8));
  return std::nullopt;
}

Tensor decode_image(const uint8_t* data, size_t size, const std::string& name,
                    const ImageDecodeOptions& options) {
  auto fail = [&](const std::string& what) { throw ItemFailure("'" + name + "': " + what); };
  if (size == 0) fail("empty file (0 bytes)");
  if (size > static_cast<size_t>(INT32_MAX)) fail("larger than 2 GiB; not decoded");
  const std::string fmt = sniff_image_format(data, size);
  if (fmt.empty()) fail("not a recognised image (JPEG, PNG, BMP, WebP, TIFF, GIF)");
  if (fmt == "gif") fail("GIF is not supported by this OpenCV build; convert it to PNG");

  if (const auto dims = image_header_size(data, size)) {
    const auto [w, h] = *dims;
    if (w <= 0 || h <= 0)
      fail(fmt + " header declares an empty image (" + std::to_string(w) + "x" + std::to_string(h) +
           ")");
    if (options.max_pixels > 0 && w * h > options.max_pixels)
      fail(fmt + " header declares " + std::to_string(w) + "x" + std::to_string(h) + " = " +
           std::to_string(w * h) + " pixels, over max_pixels " +
           std::to_string(options.max_pixels) + " (decompression-bomb guard)");
  } else {
    // No size, no decoding: the decoder would allocate whatever the data claims.
    fail("truncated or corrupt " + fmt + " header (no image size found)");
  }
  if (fmt == "jpeg" && options.strict_jpeg && !jpeg_has_eoi(data, size))
    fail("truncated JPEG: no end-of-image marker after the image data");

  // JPEG has no alpha: IMREAD_COLOR applies the EXIF orientation. Other formats are read
  // unchanged to see their alpha channel and bit depth.
  int flags = cv::IMREAD_UNCHANGED;
  if (fmt == "jpeg")
    flags = options.exif_orientation ? cv::IMREAD_COLOR
                                     : cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION;
  cv::Mat img;
  try {
    const cv::Mat buf(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
    img = cv::imdecode(buf, flags);
  } catch (const cv::Exception& e) {
    fail("cannot decode " + fmt + ": " + e.what());
  }
  if (img.empty()) fail("cannot decode " + fmt + " (corrupt, truncated or unsupported data)");

  if (img.depth() == CV_16U) {
    img.convertTo(img, CV_8U, 1.0 / 257.0);
  } else if (img.depth() == CV_32F || img.depth() == CV_64F) {
    img.convertTo(img, CV_8U, 255.0);  // float TIFFs: [0, 1] intensities
  } else if (img.depth() != CV_8U) {
    img.convertTo(img, CV_8U);
  }

  cv::Mat rgb;
  switch (img.channels()) {
    case 1:
      cv::cvtColor(img, rgb, cv::COLOR_GRAY2RGB);
      break;
    case 3:
      cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB);
      break;
    case 2:
    case 4: {
      cv::Mat bgra;
      if (img.channels() == 2) {
        std::vector<cv::Mat> ga;
        cv::split(img, ga);
        cv::merge(std::vector<cv::Mat>{ga[0], ga[0], ga[0], ga[1]}, bgra);
      } else {
        bgra = img;
      }
      cv::cvtColor(bgra, rgb, cv::COLOR_BGRA2RGB);
      if (options.alpha == AlphaMode::Composite) {
        for (int y = 0; y < rgb.rows; ++y) {
          uint8_t* p = rgb.ptr<uint8_t>(y);
          const uint8_t* a = bgra.ptr<uint8_t>(y);
          for (int x = 0; x < rgb.cols; ++x) {
            const uint32_t alpha = a[x * 4 + 3];
            for (int c = 0; c < 3; ++c)
              p[x * 3 + c] = static_cast<uint8_t>(
                  (p[x * 3 + c] * alpha + options.background[c] * (255 - alpha) + 127) / 255);
          }
        }
      }
      break;
    }
    default:
      fail("unsupported channel count " + std::to_string(img.channels()));
  }
  Tensor out(DType::U8, {rgb.rows, rgb.cols, 3});
  for (int y = 0; y < rgb.rows; ++y)
    std::memcpy(out.data<uint8_t>() + size_t(y) * rgb.cols * 3, rgb.ptr<uint8_t>(y),
                size_t(rgb.cols) * 3);
  return out;
}

ImageLoadStage::ImageLoadStage(const Params& p) {
  options_.alpha = p.get_string("alpha") == "composite" ? AlphaMode::Composite : AlphaMode::Drop;
  if (p.has("background")) {
    const auto bg = p.get_floats("background");
    if (bg.size() != 3)
      throw p.error("background", "expected 3 values [r, g, b], got " + std::to_string(bg.size()));
    for (int c = 0; c < 3; ++c) {
      if (bg[c] < 0 || bg[c] > 255) throw p.error("background", "values must be within [0, 255]");
      options_.background[c] = static_cast<uint8_t>(bg[c] + 0.5);
    }
  }
  options_.max_pixels = p.get_int("max_pixels");
  options_.exif_orientation = p.get_bool("exif_orientation");
  options_.strict_jpeg = p.get_bool("strict");
  max_file_bytes_ = p.get_int("max_file_bytes");
}

void ImageLoadStage::process(const Item& in, Item& out) {
  if (in.source.empty()) throw ItemFailure("item has no source path to load an image from");
  const std::vector<uint8_t> bytes = read_bytes(in.source, max_file_bytes_);
  out.kind = Kind::Image;
  out.tensor = decode_image(bytes.data(), bytes.size(), in.source, options_);
}

}  // namespace embedflow
