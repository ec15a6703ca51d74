#include "models/transformer/vision_model.h"

#include <cmath>
#include <filesystem>
#include <optional>
#include <sstream>

#include "models/config_values.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/torch_bridge.h"
#include "models/torch_runtime.h"
#include "models/transformer/encoder.h"
#include "models/weights.h"

namespace embedflow::models {

namespace fs = std::filesystem;
using transformer::Encoder;
using transformer::EncoderConfig;
using transformer::LayerKeys;
namespace kernels = transformer::kernels;

namespace {

enum class Family { ViT, DINOv2 };

struct VisionConfig {
  Family family = Family::ViT;
  EncoderConfig encoder;
  int64_t image_size = 224;  // the grid the position table was trained for
  int64_t patch_size = 16;
};

VisionConfig parse_config(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) throw ModelError(path + ": expected a JSON object");
  const std::string type = j.value("model_type", "");
  VisionConfig c;
  if (type == "vit")
    c.family = Family::ViT;
  else if (type == "dinov2")
    c.family = Family::DINOv2;
  else
    throw ModelError(path + ": model_type \"" + type +
                     "\" is not a supported vision transformer; supported: \"vit\" (ViT, "
                     "google/vit-*), \"dinov2\" (DINOv2, facebook/dinov2-*)");
  const bool dino = c.family == Family::DINOv2;
  EncoderConfig& e = c.encoder;
  e.hidden_size = config_int(j, "hidden_size", 768, 1, int64_t{1} << 16, path);
  e.num_layers = config_int(j, "num_hidden_layers", 12, 1, 1024, path);
  e.num_heads = config_int(j, "num_attention_heads", 12, 1, 1024, path);
  if (dino) {
    if (j.contains("mlp_ratio") &&
        (!j["mlp_ratio"].is_number() || j["mlp_ratio"] <= 0 || j["mlp_ratio"].get<double>() > 64))
      throw ModelError(path + ": \"mlp_ratio\" must be a number from 0 to 64, found " +
                       j["mlp_ratio"].dump());
    // transformers truncates hidden_size · mlp_ratio to an integer.
    e.intermediate_size =
        static_cast<int64_t>(static_cast<double>(e.hidden_size) * j.value("mlp_ratio", 4.0));
    const auto swiglu = j.find("use_swiglu_ffn");
    if (swiglu != j.end() && !swiglu->is_boolean())
      throw ModelError(path + ": \"use_swiglu_ffn\" must be true or false, found " +
                       swiglu->dump());
    if (swiglu != j.end() && swiglu->get<bool>()) {
      // Dinov2SwiGLUFFN: two thirds of the MLP width, rounded up to a multiple of 8, gated by
      // SiLU whatever hidden_act says.
      e.intermediate_size = (e.intermediate_size * 2 / 3 + 7) / 8 * 8;
      e.gated_ffn = true;
    }
  } else {
    e.intermediate_size = config_int(j, "intermediate_size", 3072, 1, int64_t{1} << 18, path);
  }
  const std::string act = j.value("hidden_act", "gelu");
  if (e.gated_ffn)
    e.activation = kernels::Activation::Silu;
  else if (auto a = transformer::activation_named(act))
    e.activation = *a;
  else
    throw ModelError(path + ": hidden_act \"" + act + "\" is not supported (expected " +
                     transformer::kActivationNames + ")");
  e.norm = transformer::NormPlacement::Pre;
  e.layer_norm_eps = static_cast<float>(j.value("layer_norm_eps", dino ? 1e-6 : 1e-12));
  if (!(e.layer_norm_eps > 0)) throw ModelError(path + ": \"layer_norm_eps\" must be positive");
  if (!j.value("qkv_bias", true))
    throw ModelError(path + ": qkv_bias false is not supported (published models have biases)");
  c.image_size = config_int(j, "image_size", dino ? 518 : 224, 1, 16384, path);
  c.patch_size = config_int(j, "patch_size", dino ? 14 : 16, 1, 1024, path);
  if (config_int(j, "num_channels", 3, 1, 64, path) != 3)
    throw ModelError(path + ": num_channels must be 3 (RGB)");
  if (c.image_size % c.patch_size != 0)
    throw ModelError(path + ": image_size " + std::to_string(c.image_size) +
                     " is not a multiple of patch_size " + std::to_string(c.patch_size));
  if (e.hidden_size % e.num_heads != 0)
    throw ModelError(path + ": hidden_size " + std::to_string(e.hidden_size) +
                     " is not a multiple of num_attention_heads " + std::to_string(e.num_heads));
  return c;
}

LayerKeys layer_keys(const VisionConfig& c) {
  const Family f = c.family;
  LayerKeys k;
  k.layer_prefix = "encoder.layer.{}.";
  k.query = "attention.attention.query";
  k.key = "attention.attention.key";
  k.value = "attention.attention.value";
  k.attention_out = "attention.output.dense";
  if (f == Family::ViT) {
    k.norm1 = "layernorm_before";
    k.ffn_in = "intermediate.dense";
    k.ffn_out = "output.dense";
    k.norm2 = "layernorm_after";
  } else {
    k.norm1 = "norm1";
    // DINOv2 giant's gated feed-forward is Dinov2SwiGLUFFN, with other names.
    const bool swiglu = c.encoder.gated_ffn;
    k.ffn_in = swiglu ? "mlp.weights_in" : "mlp.fc1";
    k.ffn_out = swiglu ? "mlp.weights_out" : "mlp.fc2";
    k.norm2 = "norm2";
    k.layer_scale1 = "layer_scale1.lambda1";
    k.layer_scale2 = "layer_scale2.lambda1";
  }
  return k;
}

enum class Pooling { Cls, ClsMean, Mean, Pooler };

Pooling pooling_of(const std::string& name, const std::string& where) {
  if (name.empty() || name == "cls") return Pooling::Cls;
  if (name == "cls_mean") return Pooling::ClsMean;
  if (name == "mean") return Pooling::Mean;
  if (name == "pooler") return Pooling::Pooler;
  throw ModelError(where + ": pooling '" + name +
                   "' is not supported (cls, cls_mean, mean, pooler)");
}

}  // namespace

struct VisionTransformer::Impl {
  VisionConfig config;
  Pooling pooling = Pooling::Cls;
  std::string pooling_name = "cls";
  bool normalize = false;
  Precision precision = Precision::F32;
  int64_t n_params = 0;
  torch::Tensor patch_weight, patch_bias;  // [D, 3, P, P], [D]
  torch::Tensor cls_token;                 // [D]
  torch::Tensor positions;                 // [1 + grid², D]
  std::unique_ptr<Encoder> encoder;
  torch::Tensor norm_weight, norm_bias;       // the final LayerNorm
  std::optional<transformer::Linear> pooler;  // ViTModel's tanh pooler's dense layer, when loaded

  const char* family_name() const { return config.family == Family::ViT ? "ViT" : "DINOv2"; }

  // The position table for a grid of gh × gw patches: as trained, or (DINOv2) the patch
  // positions resized bicubically in float32 as Dinov2Embeddings.interpolate_pos_encoding does,
  // which it does whenever the patch count differs or the image is not square.
  torch::Tensor positions_for(int64_t height, int64_t width, int64_t gh, int64_t gw) const {
    const int64_t trained = config.image_size / config.patch_size;
    if (gh * gw == trained * trained && height == width) return positions;
    if (config.family == Family::ViT)
      throw std::invalid_argument("ViT takes " + std::to_string(config.image_size) + "x" +
                                  std::to_string(config.image_size) +
                                  " images (its config's image_size), got " +
                                  std::to_string(height) + "x" + std::to_string(width) +
                                  ": resize them first (image.preprocess)");
    const int64_t d = positions.size(1);
    auto grid = positions.narrow(0, 1, trained * trained)
                    .reshape({1, trained, trained, d})
                    .permute({0, 3, 1, 2});
    auto resized =
        torch::nn::functional::interpolate(grid, torch::nn::functional::InterpolateFuncOptions()
                                                     .size(std::vector<int64_t>{gh, gw})
                                                     .mode(torch::kBicubic)
                                                     .align_corners(false));
    return torch::cat({positions.narrow(0, 0, 1), resized.permute({0, 2, 3, 1}).reshape({-1, d})},
                      0);
  }

  // The encoder's output rows [B·(1 + patches), D] (before the final LayerNorm) and the
  // sequence length.
  torch::Tensor forward(const Tensor& images, int threads, int64_t& len) const {
    check_image_batch(images, family_name());
    const int64_t b = images.dim(0), height = images.dim(2), width = images.dim(3);
    const int64_t p = config.patch_size;
    if (height < p || width < p)
      throw std::invalid_argument(std::string(family_name()) + ": an image of " +
                                  std::to_string(height) + "x" + std::to_string(width) +
                                  " is smaller than one " + std::to_string(p) + "px patch");
    set_intra_op_threads(threads);
    auto x = torch::conv2d(to_torch(images), patch_weight, patch_bias, p);  // [B, D, gh, gw]
    const int64_t gh = x.size(2), gw = x.size(3), d = x.size(1);
    x = x.flatten(2).transpose(1, 2);  // [B, N, D]
    x = torch::cat({cls_token.view({1, 1, d}).expand({b, 1, d}), x}, 1);
    x = x + positions_for(height, width, gh, gw).unsqueeze(0);
    len = x.size(1);
    // Every image is one sequence of 1 + N rows of the packed matrix the encoder runs on.
    x = x.reshape({b * len, d}).contiguous();
    std::vector<int64_t> offsets(static_cast<size_t>(b + 1));
    for (int64_t i = 0; i <= b; ++i) offsets[static_cast<size_t>(i)] = i * len;
    encoder->forward(x, offsets);
    return x;
  }

  torch::Tensor final_norm(const torch::Tensor& x) const {
    return torch::layer_norm(x, {x.size(-1)}, norm_weight, norm_bias,
                             config.encoder.layer_norm_eps);
  }
};

VisionTransformer::VisionTransformer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VisionTransformer::~VisionTransformer() = default;

bool VisionTransformer::handles(const std::string& path) {
  std::error_code ec;
  fs::path dir = fs::is_directory(path, ec) ? fs::path(path) : fs::path(path).parent_path();
  const fs::path config = dir / "config.json";
  if (!fs::is_regular_file(config, ec)) return false;
  try {
    const nlohmann::json j = read_json_file(config.string());
    const std::string type = j.is_object() ? j.value("model_type", "") : "";
    return type == "vit" || type == "dinov2";
  } catch (const std::exception&) {
    return false;  // load() reports an unreadable config.json
  }
}

std::shared_ptr<const VisionTransformer> VisionTransformer::load(
    const std::string& path, const VisionTransformerOptions& options) {
  use_caching_tensor_allocator();
  c10::InferenceMode guard;
  const ModelPath mp = resolve_model_path(path, ModelFormat::Safetensors);
  if (mp.config.empty()) throw ModelError(mp.dir + ": no config.json beside the weights");
  auto impl = std::make_unique<Impl>();
  impl->config = parse_config(read_json_file(mp.config), mp.config);
  const VisionConfig& c = impl->config;
  impl->pooling = pooling_of(options.pooling, mp.input);
  impl->pooling_name = options.pooling.empty() ? "cls" : options.pooling;
  impl->normalize = options.normalize;

  const bool vit = c.family == Family::ViT;
  WeightLoader w(SafeTensorsFile::open(mp.weights), {"", vit ? "vit." : "dinov2."});
  const int64_t d = c.encoder.hidden_size, p = c.patch_size;
  const int64_t grid = c.image_size / p;
  impl->patch_weight =
      w.take("embeddings.patch_embeddings.projection.weight", {d, 3, p, p}).contiguous();
  impl->patch_bias = w.take("embeddings.patch_embeddings.projection.bias", {d}).contiguous();
  impl->cls_token = w.take("embeddings.cls_token", {1, 1, d}).reshape({d}).contiguous();
  impl->positions = w.take("embeddings.position_embeddings", {1, 1 + grid * grid, d})
                        .reshape({1 + grid * grid, d})
                        .contiguous();
  impl->encoder = std::make_unique<Encoder>(c.encoder, w, layer_keys(c));
  impl->encoder->set_precision(options.precision);
  impl->precision = options.precision;
  impl->norm_weight = w.take("layernorm.weight", {d});
  impl->norm_bias = w.take("layernorm.bias", {d});
  if (vit && w.has("pooler.dense.weight")) {
    impl->pooler = transformer::Linear::head(w.take("pooler.dense.weight", {d, d}),
                                             w.take("pooler.dense.bias", {d}));
  }
  w.ignore("embeddings\\.mask_token");  // DINOv2's, for masked training
  w.ignore("classifier\\..*");          // *ForImageClassification heads
  w.finish();
  if (impl->pooling == Pooling::Pooler && !impl->pooler)
    throw ModelError(mp.weights +
                     ": pooling pooler needs ViTModel's pooler.dense weights, which this "
                     "checkpoint does not have (use cls)");
  for (const auto& info : w.file().tensors()) {
    int64_t n = 1;
    for (int64_t s : info.shape) n *= s;
    impl->n_params += n;
  }
  return std::shared_ptr<const VisionTransformer>(new VisionTransformer(std::move(impl)));
}

Tensor VisionTransformer::hidden_states(const Tensor& images, int threads) const {
  c10::InferenceMode guard;
  int64_t len = 0;
  torch::Tensor x = impl_->forward(images, threads, len);
  return from_torch(impl_->final_norm(x).view({images.dim(0), len, -1}));
}

Tensor VisionTransformer::encode(const Tensor& images, int threads) const {
  c10::InferenceMode guard;
  const Impl& m = *impl_;
  int64_t len = 0;
  torch::Tensor x = m.forward(images, threads, len);
  const int64_t b = images.dim(0);
  x = x.view({b, len, -1});
  torch::Tensor out;
  switch (m.pooling) {
    case Pooling::Cls:
      out = m.final_norm(x.select(1, 0));  // LayerNorm is per row: the class rows alone
      break;
    case Pooling::Pooler:
      out = torch::tanh(m.pooler->apply(m.final_norm(x.select(1, 0))));
      break;
    case Pooling::Mean:
      out = m.final_norm(x).narrow(1, 1, len - 1).mean(1);
      break;
    case Pooling::ClsMean: {
      auto normed = m.final_norm(x);
      out = torch::cat({normed.select(1, 0), normed.narrow(1, 1, len - 1).mean(1)}, 1);
      break;
    }
  }
  Tensor result = from_torch(out.contiguous());
  if (m.normalize) l2_normalize_rows(result);
  return result;
}

int64_t VisionTransformer::dim() const {
  const int64_t d = impl_->config.encoder.hidden_size;
  return impl_->pooling == Pooling::ClsMean ? 2 * d : d;
}

std::string VisionTransformer::describe() const {
  const VisionConfig& c = impl_->config;
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << impl_->family_name() << " " << c.encoder.num_layers << "x"
    << c.encoder.hidden_size << " (" << c.encoder.num_heads << " heads), patch " << c.patch_size
    << ", trained at " << c.image_size << "px" << (c.encoder.gated_ffn ? ", SwiGLU" : "")
    << ", pooling " << impl_->pooling_name << (impl_->normalize ? ", normalize" : "") << ", "
    << static_cast<double>(impl_->n_params) / 1e6 << "M parameters, "
    << impl_->encoder->precision_path();
  return s.str();
}

}  // namespace embedflow::models
