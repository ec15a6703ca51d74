#include "stages/image/load.h"

namespace embedflow {

StageSchema image_load_schema() {
  StageSchema s;
  s.type = "image.load";
  s.kind = StageKind::Map;
  s.summary = "Decode an image file (JPEG, PNG, BMP, WebP, TIFF) to RGB u8 [H, W, 3] with OpenCV.";
  s.doc =
      "Reads the file named by the item's source and decodes it with OpenCV's `imdecode`. "
      "Output: Image u8 `[height, width, 3]`, RGB. Grayscale becomes three equal channels; "
      "16-bit images are scaled to 8 bits (v/257); an alpha channel is dropped (like PIL's "
      "`convert(\"RGB\")` and torchvision's `read_image(mode=RGB)`) or composited over "
      "`background`.\n\n"
      "The EXIF orientation of JPEGs is applied (as PIL's `ImageOps.exif_transpose`; note that "
      "plain PIL `Image.open` does not). Before decoding, the width and height are read from the "
      "header and checked against `max_pixels` (decompression-bomb guard). Zero-byte, truncated "
      "(JPEG without end-of-image marker), corrupt (e.g. PNG CRC errors) and unsupported files "
      "fail for that item with a message naming the file.";
  s.inputs = {{"in", {Kind::File, Kind::None}, "item whose source is an image file path"}};
  s.output = Kind::Image;
  s.params = {
      ParamSpec::enumeration("alpha", "drop", {"drop", "composite"})
          .describe("Images with an alpha channel: drop it, or composite over `background`."),
      ParamSpec::floats("background")
          .describe("RGB background (0-255) for alpha: composite. Default [255, 255, 255]."),
      ParamSpec::integer("max_pixels", 178956970)
          .range(0, std::nullopt)
          .describe("Reject images whose header declares more pixels (width x height) than this, "
                    "before decoding. 0: no limit. Default: PIL's DecompressionBombError limit."),
      ParamSpec::integer("max_file_bytes", int64_t{1} << 30)
          .range(0, std::nullopt)
          .describe("Reject files larger than this many bytes. 0: no limit."),
      ParamSpec::boolean("exif_orientation", true)
          .describe("Rotate/flip JPEGs as their EXIF orientation tag says."),
      ParamSpec::boolean("strict", true)
          .describe("Fail truncated JPEGs (libjpeg would fill the missing part with gray)."),
  };
  return s;
}

}  // namespace embedflow
