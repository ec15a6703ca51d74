#include "stages/io/png_encode.h"

#include <csetjmp>
#include <stdexcept>
#include <string>

#include <png.h>
#include <zlib.h>

namespace embedflow {

namespace {

struct Sink {
  std::vector<uint8_t> bytes;
  char message[256] = {0};
};

void append(png_structp png, png_bytep data, png_size_t n) {
  auto* sink = static_cast<Sink*>(png_get_io_ptr(png));
  sink->bytes.insert(sink->bytes.end(), data, data + n);
}

void no_flush(png_structp) {}

// libpng reports errors by longjmp back into encode_png; the message is kept for the exception.
void on_error(png_structp png, png_const_charp message) {
  auto* sink = static_cast<Sink*>(png_get_error_ptr(png));
  snprintf(sink->message, sizeof sink->message, "%s", message ? message : "unknown error");
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

// The part that runs under setjmp: only plain locals, so that nothing with a destructor is
// skipped by libpng's longjmp.
bool encode_into(Sink* sink, const uint8_t* pixels, int width, int height, int channels,
                 size_t stride, bool compact) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, on_error, on_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return false;
  }
  png_set_write_fn(png, sink, append, no_flush);
  // OpenCV's defaults for imencode(".png") without parameters: tuned for speed (the SUB filter
  // alone, zlib level 1) with the run-length strategy.
  if (compact) {
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_ALL_FILTERS);
    png_set_compression_level(png, Z_BEST_COMPRESSION);
  } else {
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    png_set_compression_level(png, Z_BEST_SPEED);
    png_set_compression_strategy(png, Z_RLE);
  }
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  if (channels == 3) png_set_bgr(png);
  for (int y = 0; y < height; ++y)
    png_write_row(png, const_cast<png_bytep>(pixels + static_cast<size_t>(y) * stride));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const uint8_t* pixels, int width, int height, int channels,
                                size_t stride, bool compact) {
  if (width <= 0 || height <= 0 || (channels != 1 && channels != 3))
    throw std::invalid_argument("encode_png: expected a non-empty gray or 3-channel image, got " +
                                std::to_string(width) + "x" + std::to_string(height) + "x" +
                                std::to_string(channels));
  Sink sink;
  if (!encode_into(&sink, pixels, width, height, channels, stride, compact))
    throw std::runtime_error(std::string("PNG encoding failed: ") +
                             (sink.message[0] ? sink.message : "libpng could not start"));
  return std::move(sink.bytes);
}

}  // namespace embedflow
