// encode.clip_image: images → CLIP image embeddings (get_image_features), with the model's own
// CLIPImageProcessor preprocessing.
#pragma once

#include <memory>
#include <string>

#include "embedflow/schema.h"
#include "models/clip.h"
#include "stages/common/encoder_stage.h"
#include "stages/image/hf_image_processor.h"

namespace embedflow {

StageSchema encode_clip_image_schema();

class ClipImageEncodeStage : public EncoderStage<models::ClipModel, Tensor> {
 public:
  explicit ClipImageEncodeStage(const Params& params);

 private:
  std::shared_ptr<const models::ClipModel> load(const std::string& path) const override;
  // The f32 [3, S, S] the vision tower takes for one input item; throws for an unusable item.
  Tensor prepare(const Item& item, Item& out) const override;

  models::Precision precision_;
  bool preprocess_;
  image::Resample resample_;
};

}  // namespace embedflow
