// image.load: a file → Image u8 [H, W, 3] RGB, decoded with OpenCV from bytes this stage reads.
// Untrusted input: dimensions are read from the header and checked against a pixel limit before
// anything is decoded, truncated JPEGs are detected, and every failure names the file.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema image_load_schema();

enum class AlphaMode { Drop, Composite };

struct ImageDecodeOptions {
  AlphaMode alpha = AlphaMode::Drop;
  std::array<uint8_t, 3> background = {255, 255, 255};  // for AlphaMode::Composite
  int64_t max_pixels = 178956970;  // 0: no limit (PIL's DecompressionBombError threshold)
  bool exif_orientation = true;
  bool strict_jpeg = true;  // a JPEG without its end-of-image marker is an error
};

// Container type from the magic bytes: "jpeg", "png", "bmp", "webp", "tiff", "gif" or "".
std::string sniff_image_format(const uint8_t* data, size_t size);
// Width and height from the header, without decoding; nullopt when they cannot be read.
std::optional<std::pair<int64_t, int64_t>> image_header_size(const uint8_t* data, size_t size);
// Decodes encoded bytes to u8 [H, W, 3] RGB. `name` is used in messages. Throws ItemFailure.
Tensor decode_image(const uint8_t* data, size_t size, const std::string& name,
                    const ImageDecodeOptions& options);

class ImageLoadStage : public ItemStage {
 public:
  explicit ImageLoadStage(const Params& params);
  void process(const Item& in, Item& out) override;

 private:
  ImageDecodeOptions options_;
  int64_t max_file_bytes_;
};

}  // namespace embedflow
