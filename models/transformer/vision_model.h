// A vision transformer read from a Hugging Face model folder: ViT (google/vit-*: ViTModel or
// ViTForImageClassification keys) or DINOv2 (facebook/dinov2-*), picked by config.json's
// model_type. Patch embedding, class token and positions (DINOv2's interpolated bicubically to
// the image's patch grid, as transformers does), then the pre-LN encoder core
// (models/transformer/encoder.h, DINOv2's layer scale folded into the projections it scales),
// the final LayerNorm and a pooling. DINOv2 giant's SwiGLU feed-forward is the core's gated
// one. An ImageEncoder (models/encoder.h). Torch-free header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "embedflow/tensor.h"
#include "models/encoder.h"

namespace embedflow::models {

struct VisionTransformerOptions {
  // What an image's embedding is: "cls" (the class token after the final LayerNorm: DINOv2's
  // pooler_output, timm's ViT features), "cls_mean" (the class token and the mean of the patch
  // tokens, concatenated: DINOv2's classifier input), "mean" (the mean of the patch tokens),
  // "pooler" (ViT's tanh pooler over the class token; ViTModel checkpoints only). "" = cls.
  std::string pooling;
  bool normalize = false;  // L2-normalise each embedding
  Precision precision = Precision::F32;
};

class VisionTransformer : public ImageEncoder {
 public:
  // Whether the folder (or the folder of the file) at `path` holds a config.json whose
  // model_type this class loads ("vit", "dinov2").
  static bool handles(const std::string& path);
  // Throws ModelError naming the file and what was expected: an unsupported model_type or option,
  // missing, unexpected or mis-shaped tensors.
  static std::shared_ptr<const VisionTransformer> load(const std::string& path,
                                                       const VisionTransformerOptions& options);
  ~VisionTransformer() override;
  VisionTransformer(const VisionTransformer&) = delete;
  VisionTransformer& operator=(const VisionTransformer&) = delete;

  // f32 [B, 3, H, W] (preprocessed: resized, rescaled, normalised) → f32 [B, dim()]. ViT takes
  // its config's image_size only; DINOv2 any size that is a multiple of its patch size.
  Tensor encode(const Tensor& images, int threads) const override;
  // The last hidden states after the final LayerNorm: f32 [B, 1 + patches, hidden].
  Tensor hidden_states(const Tensor& images, int threads) const;
  int64_t dim() const override;
  // "DINOv2 12x384 (6 heads), patch 14, trained at 518px, pooling cls, 22.1M parameters, fp32"
  std::string describe() const override;

 private:
  struct Impl;
  explicit VisionTransformer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedflow::models
