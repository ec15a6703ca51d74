// A Hugging Face image processor's settings, as a model folder's preprocessor_config.json gives
// them: CLIPImageProcessor, ViTImageProcessor and BitImageProcessor (DINOv2), each starting from
// its class's defaults. The pixels are processed by stages/image/hf_image_processor.h.
// Torch-free.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace embedflow::models {

struct ImageProcessorConfig {
  std::string type = "CLIPImageProcessor";  // the class the settings are read as
  bool do_resize = true;
  // Resize to `height` x `width` (size: {"height", "width"}), else the shorter side to
  // `shortest_edge` keeping the aspect ratio.
  bool exact_size = false;
  int64_t shortest_edge = 224;
  int64_t height = 224, width = 224;
  // PIL's filters by their number in preprocessor_config.json: 2 bilinear, 3 bicubic.
  enum class Filter { Bilinear, Bicubic };
  Filter resample = Filter::Bicubic;
  bool do_center_crop = true;
  int64_t crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};  // OpenAI CLIP's
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

// The defaults of a processor class ("CLIPImageProcessor", "ViTImageProcessor",
// "BitImageProcessor"); throws ModelError naming `where` and listing those for another class.
ImageProcessorConfig image_processor_defaults(const std::string& type, const std::string& where);

// preprocessor_config.json: its image_processor_type (or feature_extractor_type) picks the
// defaults, `fallback_type` when it names none, and its keys override them. Throws ModelError
// naming `where` and the key for a value it cannot run (another resample filter, a longest_edge
// size, …).
ImageProcessorConfig parse_image_processor(const nlohmann::json& json, const std::string& where,
                                           const std::string& fallback_type);

// <dir>/preprocessor_config.json read as above; throws ModelError when the folder has none.
ImageProcessorConfig read_image_processor(const std::string& dir);

}  // namespace embedflow::models
