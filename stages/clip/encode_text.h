// encode.clip_text: captions → CLIP text embeddings (get_text_features).
#pragma once

#include <memory>
#include <string>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "models/clip.h"

namespace embedflow {

StageSchema encode_clip_text_schema();

class ClipTextEncodeStage : public BatchStage {
 public:
  explicit ClipTextEncodeStage(const Params& params);
  void open(const StageContext& ctx) override;
  void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) override;
  void close() override { model_.reset(); }

 private:
  Params params_;
  bool normalize_;
  bool truncate_;
  std::string stage_id_;
  int threads_ = 1;
  std::shared_ptr<const models::ClipModel> model_;
};

}  // namespace embedflow
