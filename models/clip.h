// CLIP (Radford et al. 2021) image and text towers in the Hugging Face CLIPModel layout, read
// from a model folder: `openai/clip-vit-base-patch32` (config.json, model.safetensors, vocab.json,
// merges.txt, preprocessor_config.json) or the sentence-transformers wrapper `clip-ViT-B-32`
// (the same files under 0_CLIPModel/). Other ViT sizes (B/16, L/14) follow from config.json.
// One model is both an ImageEncoder and a TextEncoder (models/encoder.h). Torch-free header.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embedflow/tensor.h"
#include "models/encoder.h"
#include "models/image_processor.h"
#include "models/tokenizers/tokenizer.h"

namespace embedflow::models {

// The transformer shared by both towers.
struct ClipEncoderConfig {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  std::string hidden_act = "quick_gelu";  // "quick_gelu" or "gelu"
  double layer_norm_eps = 1e-5;
};

struct ClipVisionConfig : ClipEncoderConfig {
  int64_t image_size = 224;
  int64_t patch_size = 32;
  int64_t num_channels = 3;
};

struct ClipTextConfig : ClipEncoderConfig {
  int64_t vocab_size = 49408;
  int64_t max_position_embeddings = 77;
};

// CLIPImageProcessor's settings (preprocessor_config.json).
using ClipImageProcessorConfig = ImageProcessorConfig;

struct ClipConfig {
  ClipVisionConfig vision;
  ClipTextConfig text;
  int64_t projection_dim = 512;
  ClipImageProcessorConfig processor;
};

// Reads config.json (`text_config`, `vision_config`, `projection_dim`; missing fields take
// Hugging Face's CLIPConfig defaults, i.e. ViT-B/32) and, when `preprocessor_json` is not null,
// preprocessor_config.json (else the processor follows vision.image_size). `where` names the file
// in errors. Throws ModelError for values it cannot run (an unsupported hidden_act, heads that do
// not divide the width, …).
ClipConfig parse_clip_config(const nlohmann::json& config, const nlohmann::json& preprocessor_json,
                             const std::string& where);

struct ModelPath;

class ClipModel : public ImageEncoder, public TextEncoder {
 public:
  // Loads a model folder (see above) or returns the instance already loaded from the same
  // folder at the same precision: the image and text stages of one pipeline share one copy.
  // Throws ModelError.
  static std::shared_ptr<const ClipModel> load(const std::string& path,
                                               Precision precision = Precision::F32);
  ~ClipModel() override;
  ClipModel(const ClipModel&) = delete;
  ClipModel& operator=(const ClipModel&) = delete;

  const ClipConfig& config() const;
  const tokenizers::Tokenizer& tokenizer() const;
  // The id of <|endoftext|>: the text tower pools at its (first) position.
  int32_t eos_id() const;
  const std::string& dir() const;  // the folder the files were read from
  int64_t dim() const override { return config().projection_dim; }

  // f32 [B, 3, S, S] preprocessed pixels (S = vision.image_size) → f32 [B, projection_dim]
  // (get_image_features: unnormalised). Throws std::invalid_argument for a wrongly shaped batch.
  Tensor encode(const Tensor& pixels, int threads) const override;
  // BOS … EOS, cut to the model's context (max_position_embeddings) with EOS kept last.
  TokenIds tokenize(const std::string& text) const override;
  // Token id lists (BOS … EOS, ≤ max_position_embeddings) → f32 [B, projection_dim]
  // (get_text_features: pooled at the first EOS, unnormalised).
  Tensor encode(const std::vector<TokenIds>& ids, int threads) const override;

  // "CLIP ViT /32 at 224px (vision 768x12, text 512x12, 512-d), 151.3M parameters, fp32"
  std::string describe() const override;

 private:
  struct Impl;
  explicit ClipModel(std::unique_ptr<Impl> impl);
  static std::unique_ptr<Impl> load_impl(const ModelPath& path, Precision precision);
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedflow::models
