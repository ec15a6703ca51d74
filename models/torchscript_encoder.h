// `format: torchscript`: an image encoder a user exported with torch.jit, run as-is behind the
// ImageEncoder contract (models/encoder.h). Torch-free header.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "models/encoder.h"
#include "models/torchscript_model.h"

namespace embedflow::models {

struct TorchScriptEncoderOptions {
  bool normalize = false;  // L2-normalise each output row
};

class TorchScriptEncoder : public ImageEncoder {
 public:
  // `path`: a .pt/.ts archive, or a folder holding one. Throws ModelError naming the file.
  static std::shared_ptr<const TorchScriptEncoder> load(
      const std::string& path, const TorchScriptEncoderOptions& options = {});

  // The module's forward on f32 [B, 3, H, W]; it must return [B, D] (else ModelError).
  Tensor encode(const Tensor& images, int threads) const override;
  // D, known after the first batch (0 before).
  int64_t dim() const override { return dim_.load(); }
  std::string describe() const override;

 private:
  TorchScriptEncoder(std::unique_ptr<TorchScriptModule> module,
                     const TorchScriptEncoderOptions& options);
  std::unique_ptr<TorchScriptModule> module_;
  TorchScriptEncoderOptions options_;
  mutable std::atomic<int64_t> dim_{0};
};

}  // namespace embedflow::models
