// Mean/std presets shared by every stage that prepares images for an encoder
// (image.preprocess, spectrogram.image, the CLIP image processor).
#pragma once

#include <array>
#include <optional>
#include <string>

namespace embedflow {

struct MeanStd {
  std::array<float, 3> mean;
  std::array<float, 3> std;
};

// torchvision's ImageNet statistics.
constexpr MeanStd kImagenetMeanStd{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
// OpenAI CLIP's statistics (CLIPImageProcessor's image_mean / image_std).
constexpr MeanStd kClipMeanStd{{0.48145466f, 0.4578275f, 0.40821073f},
                               {0.26862954f, 0.26130258f, 0.27577711f}};

// "imagenet", "clip" or "none" (nullopt).
inline std::optional<MeanStd> mean_std_preset(const std::string& name) {
  if (name == "imagenet") return kImagenetMeanStd;
  if (name == "clip") return kClipMeanStd;
  return std::nullopt;
}

}  // namespace embedflow
