// The one contract every model family offers the encode stages and library users:
//
//   std::shared_ptr<const Family> Family::load(const std::string& path, const Options& options);
//   Tensor encode(const Batch& batch, int threads) const;   // f32 [B, …], row i for batch[i]
//
// A loaded model is immutable, so one instance can serve every stage and thread that names it
// (CLIP's image and text stages share one). encode() runs on the calling thread with `threads`
// intra-op threads (libtorch's setting is per thread) and is thread-safe. Families:
// ResNetEncoder (models/resnet.h), TorchScriptEncoder (models/torchscript_encoder.h),
// SentenceTransformer (models/sentence_transformer.h), ClipModel (models/clip.h, both kinds).
// Torch-free header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "embedflow/tensor.h"

namespace embedflow::models {

// How a transformer's Linear layers run. fp32 runs the reference numerics; int8 quantises every
// Linear's weights per output channel once and its input activations per token at run time
// (dynamic quantisation: 8-bit rows where the CPU has VNNI or AMX, 7-bit elsewhere), on oneDNN
// (libtorch's quantized Linear when libdnnl-dev is absent); bf16 rounds weights and activations
// to bfloat16 and accumulates in fp32, fast where the CPU has AMX (transformer/linear.h).
enum class Precision { F32, Int8, Bf16 };
inline constexpr const char* kPrecisionNames = "fp32, int8 or bf16";
// "fp32" / "int8" / "bf16"; throws ModelError naming `where` for another name.
Precision precision_named(const std::string& name, const std::string& where);
const char* precision_name(Precision p);

// One text as a model's tokenizer numbers it, special tokens included.
using TokenIds = std::vector<int32_t>;

class ImageEncoder {
 public:
  virtual ~ImageEncoder() = default;
  // f32 [B, 3, H, W] → f32 [B, …] (a vector [B, dim()] or, for some models, a feature map).
  // Throws ModelError or std::invalid_argument for a batch the model cannot take.
  virtual Tensor encode(const Tensor& images, int threads) const = 0;
  // Output width per image (channels for feature maps); 0 while unknown (TorchScript before its
  // first batch).
  virtual int64_t dim() const = 0;
  // One line for logs and `inspect`: architecture, size, how it runs.
  virtual std::string describe() const = 0;
};

class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  // The ids of one text as the model takes them (cut to its context). Throws
  // std::invalid_argument for a text it cannot tokenise (invalid UTF-8).
  virtual TokenIds tokenize(const std::string& text) const = 0;
  // Token id lists (as tokenize() returns them) → f32 [B, dim()], one forward pass.
  virtual Tensor encode(const std::vector<TokenIds>& texts, int threads) const = 0;
  virtual int64_t dim() const = 0;
  virtual std::string describe() const = 0;
};

// Throws ModelError ("<who>: expected an f32 batch [B, 3, H, W], got …") unless `images` is one.
void check_image_batch(const Tensor& images, const std::string& who);

}  // namespace embedflow::models
