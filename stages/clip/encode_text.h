// encode.clip_text: captions → CLIP text embeddings (get_text_features).
#pragma once

#include <memory>
#include <string>

#include "embedflow/schema.h"
#include "models/clip.h"
#include "stages/common/encoder_stage.h"

namespace embedflow {

StageSchema encode_clip_text_schema();

class ClipTextEncodeStage : public EncoderStage<models::ClipModel, models::TokenIds> {
 public:
  explicit ClipTextEncodeStage(const Params& params);

 private:
  std::shared_ptr<const models::ClipModel> load(const std::string& path) const override;
  // The caption's ids, cut to the context (meta.truncated) or failed when truncate is false.
  models::TokenIds prepare(const Item& in, Item& out) const override;

  models::Precision precision_;
  bool truncate_;
  bool openai_cleaning_;  // text_cleaning: openai
};

}  // namespace embedflow
