#include "stages/clip/common.h"

#include <algorithm>
#include <cmath>
#include <exception>

namespace embedflow::clip {

void add_encoder_contract(StageSchema& s, std::vector<ParamSpec> own_params) {
  s.params.push_back(ParamSpec::model_path("model").require().describe(
      "CLIP model folder: Hugging Face CLIPModel layout (config.json, "
      "model.safetensors, vocab.json, merges.txt, preprocessor_config.json; e.g. a "
      "download of openai/clip-vit-base-patch32) or the sentence-transformers "
      "wrapper (clip-ViT-B-32, files under 0_CLIPModel/). Image and text stages "
      "naming the same folder share one loaded model."));
  for (auto& p : own_params) s.params.push_back(std::move(p));
  s.params.push_back(ParamSpec::boolean("normalize", false)
                         .describe("L2-normalise each embedding (sentence-transformers' "
                                   "normalize_embeddings=True)."));
  s.default_concurrency = 1;
  s.default_batch_size = 32;
  s.uses_model_threads = true;
}

std::shared_ptr<const models::ClipModel> open_model(const Params& params) {
  try {
    return models::ClipModel::load(params.get_string("model"));
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw params.error("model", e.what());
  }
}

void fail_item(Item& out, const std::string& stage, const std::string& message) {
  out.error = std::make_shared<const ItemError>(ItemError{stage, message});
}

Tensor embedding_row(const Tensor& batch, int64_t row, bool normalize) {
  const int64_t d = batch.dim(1);
  Tensor out(DType::F32, {d});
  const float* src = batch.data<float>() + row * d;
  float* dst = out.data<float>();
  std::copy_n(src, d, dst);
  if (normalize) {
    double sq = 0;
    for (int64_t i = 0; i < d; ++i) sq += static_cast<double>(src[i]) * src[i];
    const float inv = static_cast<float>(1.0 / std::max(std::sqrt(sq), 1e-12));
    for (int64_t i = 0; i < d; ++i) dst[i] *= inv;
  }
  return out;
}

}  // namespace embedflow::clip
