// libFuzzer target for image.load's own header parsing (format sniffing and the width/height
// read before decoding, which guards against decompression bombs). OpenCV's decoders are not
// fuzzed here.
#include <cstdint>
#include <cstring>
#include <memory>

#include "stages/image/load.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[size ? size : 1]);
  if (size) std::memcpy(copy.get(), data, size);
  embedflow::sniff_image_format(copy.get(), size);
  embedflow::image_header_size(copy.get(), size);
  return 0;
}
