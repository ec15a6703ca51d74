// image.preprocess: Image u8 [H, W, 3] (or an ImageTensor) → ImageTensor f32 [3, h, w] ready for
// an encoder: resize (shorter side or exact), center crop, scale to [0, 1], mean/std — the
// torchvision recipe of the params, or a model folder's Hugging Face image processor.
#pragma once

#include <optional>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "models/image_processor.h"
#include "stages/common/normalization.h"
#include "stages/image/transforms.h"

namespace embedflow {

StageSchema image_preprocess_schema();

class ImagePreprocessStage : public ItemStage {
 public:
  explicit ImagePreprocessStage(const Params& params);
  void process(const Item& in, Item& out) override;

 private:
  int resize_;  // 0: keep the size
  bool exact_;  // resize to resize x resize instead of the shorter side
  int crop_;    // 0: no crop
  image::Interpolation interpolation_;
  bool antialias_;
  std::optional<MeanStd> mean_std_;
  // `model`'s preprocessor_config.json, which then decides everything (PIL-exact).
  std::optional<models::ImageProcessorConfig> processor_;
};

}  // namespace embedflow
