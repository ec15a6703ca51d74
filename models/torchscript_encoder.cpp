#include "models/torchscript_encoder.h"

#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/torch_bridge.h"

namespace embedflow::models {

TorchScriptEncoder::TorchScriptEncoder(std::unique_ptr<TorchScriptModule> module,
                                       const TorchScriptEncoderOptions& options)
    : module_(std::move(module)), options_(options) {}

std::shared_ptr<const TorchScriptEncoder> TorchScriptEncoder::load(
    const std::string& path, const TorchScriptEncoderOptions& options) {
  const ModelPath where = resolve_model_path(path, ModelFormat::TorchScript);
  return std::shared_ptr<const TorchScriptEncoder>(
      new TorchScriptEncoder(TorchScriptModule::load(where.weights), options));
}

Tensor TorchScriptEncoder::encode(const Tensor& images, int threads) const {
  check_image_batch(images, module_->path());
  Tensor y = module_->forward(images, threads);
  if (y.ndim() != 2 || y.dim(0) != images.dim(0))
    throw ModelError(module_->path() + ": forward returned " + y.shape_str() +
                     ", expected [batch, dim] with batch " + std::to_string(images.dim(0)));
  dim_.store(y.dim(1));
  if (options_.normalize) l2_normalize_rows(y);
  return y;
}

std::string TorchScriptEncoder::describe() const {
  return "TorchScript module " + module_->path() + ", " +
         std::to_string(module_->parameter_count()) + " parameters";
}

}  // namespace embedflow::models
