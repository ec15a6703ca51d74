// PNG encoding through libpng alone. OpenCV's imgcodecs would do it too, but loading it maps
// GDAL, GDCM, OpenEXR and some 120 more libraries: about 70 ms of dynamic linking on every
// process that writes a picture (measured: bench/core/startup.py). The settings are those of
// OpenCV's imencode(".png") defaults, so the files are byte-identical to what write.png wrote
// before (tests/core/png_encode_test.cpp checks it against imencode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace embedflow {

// 8-bit gray (channels 1) or colour (channels 3, in B, G, R order as OpenCV keeps it) rows of
// `stride` bytes. Throws std::runtime_error with libpng's message when encoding fails.
// `compact`: every filter and zlib's best compression instead of OpenCV's fast settings, for a
// single picture such as a heatmap, where a file 5-10 times smaller is worth a few milliseconds.
std::vector<uint8_t> encode_png(const uint8_t* pixels, int width, int height, int channels,
                                size_t stride, bool compact = false);

}  // namespace embedflow
