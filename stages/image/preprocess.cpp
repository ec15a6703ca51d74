#include "stages/image/preprocess.h"

#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "stages/image/hf_image_processor.h"

namespace embedflow {

StageSchema image_preprocess_schema() {
  StageSchema s;
  s.type = "image.preprocess";
  s.kind = StageKind::Map;
  s.summary = "Resize, center-crop and normalise an image for an encoder (torchvision semantics).";
  s.doc =
      "Image u8 `[H, W, 3]` → ImageTensor f32 `[3, crop, crop]`: the torchvision recipe "
      "`Resize(resize) → CenterCrop(crop) → ToTensor() → Normalize(mean, std)`. Defaults are "
      "the ImageNet evaluation transforms of torchvision's ResNets (256 → 224, bilinear, "
      "antialias, ImageNet mean/std).\n\n"
      "Parity (measured, tests/image): resizing reimplements torch's resampling kernels "
      "(antialiased on downscaling, as torchvision's tensor path with `antialias=True`), so "
      "outputs equal torchvision's tensor transforms up to ±1 rounding steps on ≤0.07% of values "
      "with antialias (≤0.7% for non-antialiased bilinear); on the bundled example images, "
      "ResNet-18 features from files differ from torchvision's tensor pipeline by 2e-5 of their "
      "largest value. PIL's `Image.resize` (the classic PIL-based transforms) rounds its "
      "intermediate pass to 8 bits with fixed-point weights, so pixels differ by a few levels and "
      "the same features differ from the PIL pipeline by 1.6e-3 of their largest value. Crop "
      "offsets round half-to-even like torchvision; a crop larger than the image is zero-padded."
      "\n\n"
      "ImageTensor input (e.g. from `spectrogram.image`, already normalised) is resized and "
      "cropped in float; mean/std are not applied again.\n\n"
      "`model`: a Hugging Face model folder (or cached hub id) whose preprocessor_config.json "
      "then decides the whole recipe, as transformers' image processor runs it on a PIL image "
      "(CLIPImageProcessor, ViTImageProcessor, BitImageProcessor for DINOv2): PIL's bilinear or "
      "bicubic resize reproduced exactly, transformers' crop offsets, rescale and normalise. The "
      "other parameters are then ignored.";
  s.inputs = {{"in", {Kind::Image, Kind::ImageTensor}, "RGB image, or an image tensor"}};
  s.output = Kind::ImageTensor;
  s.params = {
      ParamSpec::integer("resize", 256)
          .range(0, 16384)
          .describe("Target size in pixels: of the shorter side (resize_mode: shorter_side), or "
                    "of both sides (exact). 0: no resize."),
      ParamSpec::enumeration("resize_mode", "shorter_side", {"shorter_side", "exact"})
          .describe("shorter_side: keep the aspect ratio (torchvision Resize(int)); exact: "
                    "resize x resize (Resize((s, s)))."),
      ParamSpec::integer("crop", 224).range(0, 16384).describe("Center crop size. 0: no crop."),
      ParamSpec::enumeration("interpolation", "bilinear", {"nearest", "bilinear", "bicubic"})
          .describe("Resampling filter (torchvision InterpolationMode)."),
      ParamSpec::boolean("antialias", true)
          .describe("Widen the filter when downscaling, as torchvision (antialias=True) and PIL."),
      ParamSpec::enumeration("mean_std", "imagenet", {"imagenet", "clip", "none"})
          .describe("Normalisation preset; none: values stay in [0, 1]."),
      ParamSpec::floats("mean").describe("Per-channel mean (3 values), overriding the preset."),
      ParamSpec::floats("std").describe("Per-channel std (3 values), overriding the preset."),
      ParamSpec::model_path("model").no_default().describe(
          "Model folder whose preprocessor_config.json gives the recipe (Hugging Face image "
          "processor, PIL-exact)."),
  };
  return s;
}

ImagePreprocessStage::ImagePreprocessStage(const Params& p)
    : resize_(static_cast<int>(p.get_int("resize"))),
      exact_(p.get_string("resize_mode") == "exact"),
      crop_(static_cast<int>(p.get_int("crop"))),
      interpolation_(image::interpolation_from_name(p.get_string("interpolation"))),
      antialias_(p.get_bool("antialias")),
      mean_std_(mean_std_preset(p.get_string("mean_std"))) {
  if (p.has("model")) {
    try {
      processor_ = models::read_image_processor(
          models::resolve_model_path(p.get_string("model"), models::ModelFormat::Auto).dir);
    } catch (const models::ModelError& e) {
      throw p.error("model", e.what());
    }
  }
  for (const char* key : {"mean", "std"}) {
    if (!p.has(key)) continue;
    const auto v = p.get_floats(key);
    if (v.size() != 3)
      throw p.error(key, std::string(key) + " needs 3 values, got " + std::to_string(v.size()));
    if (!mean_std_) mean_std_ = MeanStd{{0, 0, 0}, {1, 1, 1}};
    for (int c = 0; c < 3; ++c) {
      if (std::string(key) == "std" && v[c] <= 0) throw p.error(key, "std values must be > 0");
      (std::string(key) == "mean" ? mean_std_->mean : mean_std_->std)[c] = static_cast<float>(v[c]);
    }
  }
}

void ImagePreprocessStage::process(const Item& in, Item& out) {
  const Tensor& t = in.tensor;
  out.kind = Kind::ImageTensor;
  if (processor_) {
    if (in.kind == Kind::ImageTensor)
      throw ItemFailure(
          "image.preprocess: a model's image processor takes an Image u8 [H, W, 3], "
          "got an ImageTensor " +
          t.shape_str());
    try {
      out.tensor = image::hf_preprocess(t, *processor_);
    } catch (const std::invalid_argument& e) {
      throw ItemFailure(std::string("image.preprocess: ") + e.what());
    }
    return;
  }
  if (in.kind == Kind::ImageTensor) {
    if (t.dtype() != DType::F32 || t.ndim() != 3)
      throw ItemFailure("image.preprocess: expected an ImageTensor f32 [C, H, W], got " +
                        std::string(dtype_name(t.dtype())) + " " + t.shape_str());
    Tensor x = t;
    if (resize_ > 0) {
      const int h = static_cast<int>(x.dim(1)), w = static_cast<int>(x.dim(2));
      const auto [oh, ow] =
          exact_ ? std::make_pair(resize_, resize_) : image::shorter_side_size(h, w, resize_);
      x = image::resize_chw(x, oh, ow, interpolation_, antialias_);
    }
    if (crop_ > 0) x = image::center_crop_chw(x, crop_, crop_);
    out.tensor = x;
    return;
  }
  if (t.dtype() != DType::U8 || t.ndim() != 3 || t.dim(2) != 3)
    throw ItemFailure("image.preprocess: expected an Image u8 [H, W, 3], got " +
                      std::string(dtype_name(t.dtype())) + " " + t.shape_str());
  Tensor img = t;
  if (resize_ > 0) {
    const int h = static_cast<int>(t.dim(0)), w = static_cast<int>(t.dim(1));
    const auto [oh, ow] =
        exact_ ? std::make_pair(resize_, resize_) : image::shorter_side_size(h, w, resize_);
    img = crop_ > 0
              ? image::resize_center_crop(img, oh, ow, crop_, crop_, interpolation_, antialias_)
              : image::resize(img, oh, ow, interpolation_, antialias_);
  } else if (crop_ > 0) {
    img = image::center_crop(img, crop_, crop_);
  }
  out.tensor = image::to_normalized_chw(img, mean_std_);
}

}  // namespace embedflow
