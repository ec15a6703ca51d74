// encode.clip_image: images → CLIP image embeddings (get_image_features), with the model's own
// CLIPImageProcessor preprocessing.
#pragma once

#include <memory>
#include <string>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "models/clip.h"
#include "stages/clip/image_processor.h"

namespace embedflow {

StageSchema encode_clip_image_schema();

class ClipImageEncodeStage : public BatchStage {
 public:
  explicit ClipImageEncodeStage(const Params& params);
  void open(const StageContext& ctx) override;
  void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) override;
  void close() override { model_.reset(); }

 private:
  // The f32 [3, S, S] the vision tower takes for one input item; throws for an unusable item.
  Tensor prepare(const Item& item) const;

  Params params_;
  bool preprocess_;
  bool normalize_;
  clip::Resample resample_;
  std::string stage_id_;
  int threads_ = 1;
  std::shared_ptr<const models::ClipModel> model_;
};

}  // namespace embedflow
