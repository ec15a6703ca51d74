// encode.image: batches of ImageTensor f32 [3, H, W] → Embedding f32 [D] with a ResNet
// (safetensors, torchvision/timm layout), a vision transformer (ViT, DINOv2: Hugging Face
// folders) or a TorchScript module.
#pragma once

#include <memory>
#include <string>

#include "embedflow/schema.h"
#include "models/resnet.h"
#include "models/transformer/vision_model.h"
#include "stages/common/encoder_stage.h"

namespace embedflow {

StageSchema encode_image_schema();
// Embedding for `layer: pool` or `logits`, a Tensor for a feature map.
Kind encode_image_output_kind(const std::string& layer);

class EncodeImageStage : public EncoderStage<models::ImageEncoder, Tensor> {
 public:
  explicit EncodeImageStage(const Params& params);

 private:
  // A TorchScript archive (format, or auto and the file) runs as it is; a folder whose
  // config.json names a vision transformer is one; the rest is a ResNet.
  std::shared_ptr<const models::ImageEncoder> load(const std::string& path) const override;
  Tensor prepare(const Item& in, Item& out) const override;

  std::string format_;
  bool trust_torchscript_ = false;  // a TorchScript archive runs code when loaded
  models::ResNetOptions options_;
  models::VisionTransformerOptions vit_options_;
};

}  // namespace embedflow
