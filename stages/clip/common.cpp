#include "stages/clip/common.h"

#include "stages/common/encoder_params.h"

namespace embedflow::clip {

void add_encoder_contract(StageSchema& s, std::vector<ParamSpec> own_params) {
  s.params.push_back(ParamSpec::model_path("model").require().describe(
      "CLIP model folder: Hugging Face CLIPModel layout (config.json, "
      "model.safetensors, vocab.json, merges.txt, preprocessor_config.json; e.g. a "
      "download of openai/clip-vit-base-patch32) or the sentence-transformers "
      "wrapper (clip-ViT-B-32, files under 0_CLIPModel/). Image and text stages "
      "naming the same folder share one loaded model."));
  for (auto& p : own_params) s.params.push_back(std::move(p));
  s.params.push_back(
      precision_param("Both towers; stages share a loaded model only at the same precision."));
  s.params.push_back(ParamSpec::boolean("normalize", false)
                         .describe("L2-normalise each embedding (sentence-transformers' "
                                   "normalize_embeddings=True)."));
  s.default_concurrency = 1;
  s.default_batch_size = 32;
  s.uses_model_threads = true;
}

}  // namespace embedflow::clip
