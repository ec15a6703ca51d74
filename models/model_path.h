// Finding a model from the path a user wrote. Accepted layouts:
//   - a weights file: `resnet50.safetensors`, or a TorchScript archive `model.pt` / `model.ts`;
//   - a folder with `model.safetensors` (+ `config.json`), as published by timm and
//     Hugging Face (`timm/resnet50.a1_in1k`, `bert-base-uncased`);
//   - a sentence-transformers folder (`modules.json`): the weights of its first module (the
//     transformer), with the module list kept for the caller.
// Generic on purpose: each model family reads its own config.json. Torch-free.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace embedflow::models {

enum class ModelFormat { Auto, Safetensors, TorchScript };

// "auto", "safetensors", "torchscript" → ModelFormat; throws ModelError otherwise.
ModelFormat model_format_from_name(const std::string& name);
const char* model_format_name(ModelFormat f);

struct SentenceTransformerModule {
  std::string type;  // "sentence_transformers.models.Transformer", "...Pooling", "...Normalize"
  std::string path;  // absolute folder of the module
};

struct ModelPath {
  std::string input;                              // the path as the user gave it
  std::string dir;                                // folder holding the weights
  std::string weights;                            // the weights file
  ModelFormat format = ModelFormat::Safetensors;  // never Auto once resolved
  std::string config;  // config.json beside the weights ("" when there is none)
  std::vector<SentenceTransformerModule> modules;  // empty unless a sentence-transformers folder
};

// Throws ModelError naming the path and what was looked for.
ModelPath resolve_model_path(const std::string& path, ModelFormat format = ModelFormat::Auto);

// Reads and parses a JSON file (config.json, modules.json); throws ModelError naming the file.
nlohmann::json read_json_file(const std::string& path);

// config.json's `model_type` of a model folder, file or cached hub id ("clip", "bert", "vit",
// …); "" when it has none or cannot be resolved (the stage that loads it reports why).
std::string model_type_of(const std::string& model);
// The stage that embeds `model`'s texts: encode.clip_text for a CLIP folder, else encode.text.
std::string text_encoder_stage_for(const std::string& model);
// The stage that embeds `model`'s images: encode.clip_image for a CLIP folder, else encode.image.
std::string image_encoder_stage_for(const std::string& model);

}  // namespace embedflow::models
