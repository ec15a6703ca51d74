// encode.image: batches of ImageTensor f32 [3, H, W] → Embedding f32 [D] with a ResNet
// (safetensors, torchvision/timm layout) or a TorchScript module.
#pragma once

#include <memory>
#include <string>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "models/resnet.h"

namespace embedflow {

StageSchema encode_image_schema();

class EncodeImageStage : public BatchStage {
 public:
  explicit EncodeImageStage(const Params& params);
  void open(const StageContext& ctx) override;
  void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) override;
  const models::ImageEncoder& encoder() const { return *encoder_; }

 private:
  Params params_;
  std::string model_path_;
  models::ImageEncoderOptions options_;
  Kind output_kind_;
  std::string stage_id_;
  int threads_ = 1;
  std::unique_ptr<models::ImageEncoder> encoder_;
};

}  // namespace embedflow
