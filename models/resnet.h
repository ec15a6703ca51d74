// ResNet-18/34/50/101/152 in torchvision's (and timm's) layout, read from safetensors, as an
// ImageEncoder (models/encoder.h). Torch-free header (pimpl): stages use it without torch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "embedflow/tensor.h"
#include "models/encoder.h"

namespace embedflow::models {

struct ResNetOptions {
  // "resnet18" … "resnet152", "resnext50_32x4d", "wide_resnet50_2", …; "" = from config.json
  // ("architecture", as timm writes it) or, failing that, from the block structure of the weights.
  std::string arch;
  // What encode() returns: "pool" (global-average-pooled features, 512 or 2048-d), "logits"
  // (the fc layer), or a feature map "layer1" … "layer4" ([C, h, w] per image).
  std::string layer = "pool";
  bool normalize = false;      // L2-normalise each vector output (pool, logits)
  bool fold_batchnorm = true;  // bake BatchNorm into the preceding convolution at load
  // How convolutions run (all need fold_batchnorm; without it "aten" runs):
  //   "winograd": channels-last, Winograd F(4x4, 3x3) for 3x3 stride-1 and GEMM (BLAS) for the
  //               rest, residual add and ReLU fused into the convolution's output pass;
  //   "onednn":   the whole network on oneDNN's blocked layout, weights reordered once at load;
  //   "aten":     libtorch's ops one by one, as torchvision runs (channels_last below applies);
  //   "auto":     the fastest measured for the architecture (bench/image).
  std::string engine = "auto";
  bool channels_last = true;  // engine "aten": NHWC activations; results are equal
  // Images per forward pass inside encode(); 0: as many as keep each activation under 24 MiB
  // (8 at 224x224). Results do not depend on it.
  int64_t max_images_per_call = 0;
};

// A ResNet read from safetensors: a file, or a folder with model.safetensors (+ config.json).
class ResNetEncoder : public ImageEncoder {
 public:
  // Throws ModelError naming missing, unexpected and mis-shaped tensors, or an architecture it
  // does not know.
  static std::shared_ptr<const ResNetEncoder> load(const std::string& path,
                                                   const ResNetOptions& options = {});
  ~ResNetEncoder() override;
  ResNetEncoder(const ResNetEncoder&) = delete;
  ResNetEncoder& operator=(const ResNetEncoder&) = delete;

  // f32 [B, 3, H, W] → f32 [B, dim()] (or [B, C, h, w] for a feature-map layer).
  Tensor encode(const Tensor& images, int threads) const override;
  // Output size per image for vector outputs; channels for feature maps.
  int64_t dim() const override;
  // "resnet50 (torchvision layout), 25557032 parameters, output pool [2048], BatchNorm folded,
  // oneDNN blocked layout, weights prepacked"
  std::string describe() const override;

 private:
  struct Impl;
  explicit ResNetEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The architectures ResNet loading knows, in order.
const std::vector<std::string>& resnet_arches();

class SafeTensorsFile;

// torchvision's ResNet(block, layers, groups, width_per_group): ResNeXt and Wide ResNet are
// the Bottleneck with grouped or wider 3x3 convolutions, width = planes · width_per_group / 64 ·
// groups.
struct ResNetSpec {
  std::string name;   // "resnet50"
  bool bottleneck;    // Bottleneck (50/101/152) or BasicBlock (18/34)
  int64_t blocks[4];  // blocks per stage
  int64_t groups = 1;
  int64_t width_per_group = 64;
};
const std::vector<ResNetSpec>& resnet_specs();
const ResNetSpec* find_resnet_spec(const std::string& arch);
// The architecture from the block structure of torchvision/timm keys (layerN.i.convK.weight);
// throws ModelError explaining what the file looks like when it is not a plain ResNet.
std::string detect_resnet_arch(const SafeTensorsFile& file);
// "architecture" (timm) or "arch" from a config.json, when it names a known ResNet; else "".
std::string resnet_arch_from_config(const nlohmann::json& config);

}  // namespace embedflow::models
