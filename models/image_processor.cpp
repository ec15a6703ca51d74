#include "models/image_processor.h"

#include <filesystem>

#include "models/config_values.h"
#include "models/model_path.h"
#include "models/safetensors.h"

namespace embedflow::models {

namespace {

int64_t positive_int(const nlohmann::json& j, const char* key, int64_t fallback,
                     const std::string& where) {
  return config_int(j, key, fallback, 1, 16384, where);
}

const std::array<float, 3> kImageNetMean{0.485f, 0.456f, 0.406f};
const std::array<float, 3> kImageNetStd{0.229f, 0.224f, 0.225f};

}  // namespace

ImageProcessorConfig image_processor_defaults(const std::string& type, const std::string& where) {
  ImageProcessorConfig c;  // CLIPImageProcessor's defaults
  c.type = type;
  if (type == "CLIPImageProcessor" || type == "CLIPFeatureExtractor") return c;
  if (type == "ViTImageProcessor" || type == "ViTFeatureExtractor") {
    c.exact_size = true;
    c.resample = ImageProcessorConfig::Filter::Bilinear;
    c.do_center_crop = false;
    c.mean = {0.5f, 0.5f, 0.5f};
    c.std = {0.5f, 0.5f, 0.5f};
    return c;
  }
  if (type == "BitImageProcessor") return c;  // CLIP's defaults too; DINOv2's file sets ImageNet's
  throw ModelError(where + ": image processor \"" + type +
                   "\" is not supported (CLIPImageProcessor, ViTImageProcessor, "
                   "BitImageProcessor)");
}

ImageProcessorConfig parse_image_processor(const nlohmann::json& p, const std::string& where,
                                           const std::string& fallback_type) {
  if (!p.is_object()) throw ModelError(where + ": expected a JSON object");
  std::string type = fallback_type;
  for (const char* key : {"image_processor_type", "feature_extractor_type"})
    if (p.contains(key) && p[key].is_string()) {
      type = p[key].get<std::string>();
      break;
    }
  ImageProcessorConfig c = image_processor_defaults(type, where);
  auto flag = [&](const char* key, bool& out) {
    if (p.contains(key) && p[key].is_boolean()) out = p[key].get<bool>();
  };
  flag("do_resize", c.do_resize);
  flag("do_center_crop", c.do_center_crop);
  flag("do_rescale", c.do_rescale);
  flag("do_normalize", c.do_normalize);
  if (p.contains("size") && !p["size"].is_null()) {
    const auto& s = p["size"];
    if (s.is_number_integer()) {
      // An int is the shorter side for the shortest-edge processors, both sides for ViT's.
      c.shortest_edge = c.height = c.width = positive_int(p, "size", 224, where);
    } else if (s.is_object() && s.contains("shortest_edge")) {
      c.exact_size = false;
      c.shortest_edge = positive_int(s, "shortest_edge", c.shortest_edge, where + " size");
    } else if (s.is_object() && s.contains("height") && s.contains("width")) {
      c.exact_size = true;
      c.height = positive_int(s, "height", c.height, where + " size");
      c.width = positive_int(s, "width", c.width, where + " size");
    } else {
      throw ModelError(where +
                       ": 'size' must be an integer, {\"shortest_edge\": n} or "
                       "{\"height\": h, \"width\": w}, found " +
                       s.dump());
    }
  }
  if (p.contains("crop_size") && !p["crop_size"].is_null()) {
    const auto& s = p["crop_size"];
    if (s.is_number_integer()) {
      c.crop_height = c.crop_width = positive_int(p, "crop_size", 224, where);
    } else if (s.is_object()) {
      c.crop_height = positive_int(s, "height", c.crop_height, where + " crop_size");
      c.crop_width = positive_int(s, "width", c.crop_width, where + " crop_size");
    } else {
      throw ModelError(
          where + ": 'crop_size' must be an integer or {\"height\", \"width\"}, found " + s.dump());
    }
  }
  if (p.contains("rescale_factor") && p["rescale_factor"].is_number())
    c.rescale_factor = p["rescale_factor"].get<double>();
  auto triple = [&](const char* key, std::array<float, 3>& out) {
    if (!p.contains(key)) return;
    const auto& v = p[key];
    if (!v.is_array() || v.size() != 3 || !v[0].is_number() || !v[1].is_number() ||
        !v[2].is_number())
      throw ModelError(where + ": '" + key + "' must be 3 numbers, found " + v.dump());
    for (int i = 0; i < 3; ++i) out[i] = v[i].get<float>();
  };
  triple("image_mean", c.mean);
  triple("image_std", c.std);
  for (int i = 0; i < 3; ++i)
    if (!(c.std[i] > 0)) throw ModelError(where + ": 'image_std' values must be positive");
  if (p.contains("resample") && !p["resample"].is_null()) {
    if (p["resample"] == 2)
      c.resample = ImageProcessorConfig::Filter::Bilinear;
    else if (p["resample"] == 3)
      c.resample = ImageProcessorConfig::Filter::Bicubic;
    else
      throw ModelError(where + ": resample " + p["resample"].dump() +
                       " is not supported (2: bilinear, 3: bicubic)");
  }
  return c;
}

ImageProcessorConfig read_image_processor(const std::string& dir) {
  const std::filesystem::path path = std::filesystem::path(dir) / "preprocessor_config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ModelError(dir +
                     ": no preprocessor_config.json (the Hugging Face image processor's "
                     "settings), so the model's preprocessing is unknown; set image.preprocess's "
                     "resize, crop and mean/std instead");
  return parse_image_processor(read_json_file(path.string()), path.string(), "CLIPImageProcessor");
}

}  // namespace embedflow::models
