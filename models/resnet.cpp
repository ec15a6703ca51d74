// ResNet as in torchvision.models.resnet (v1.5: the stride of a Bottleneck sits on its 3x3
// convolution), with torchvision's module names so checkpoints from torchvision and timm load
// as they are published.
#include "models/resnet.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <optional>
#include <sstream>
#include <vector>

#include "models/conv_engine.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/torch_runtime.h"
#include "models/torchscript_model.h"
#include "models/weights.h"

namespace embedflow::models {

namespace {

namespace nn = torch::nn;

enum class Engine { ATen, OneDNN, Winograd };

// A convolution and the BatchNorm after it. Both are registered on the parent under
// torchvision's names (conv1/bn1, downsample.0/downsample.1). fold() bakes the BatchNorm into
// the convolution: w' = w·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε), which removes a full pass over the
// activations per layer and leaves the result equal up to float rounding.
//
// prepare() then readies the folded weight for an engine, once: for OneDNN it is reordered into
// the blocked layout oneDNN's kernels read (e.g. OIhw8i8o) for forward_onednn() on oneDNN
// tensors (nChw8c): what torch.jit.optimize_for_inference does (ATen's conv2d on strided
// tensors reorders the weight on every call, and its NHWC 3x3 kernels, oneDNN 2.6 on AVX2, run
// ~1.7x slower than the blocked ones); for Winograd it becomes a FastConv.
struct ConvBN {
  nn::Conv2d conv{nullptr};
  nn::BatchNorm2d bn{nullptr};
  int64_t stride = 1, padding = 0;
  torch::Tensor folded_bias;     // defined once folded
  torch::Tensor packed;          // OneDNN: the opaque oneDNN weight
  std::optional<FastConv> fast;  // Winograd

  ConvBN() = default;
  ConvBN(nn::Module& parent, const std::string& conv_name, const std::string& bn_name, int64_t in,
         int64_t out, int64_t kernel, int64_t stride_)
      : stride(stride_), padding(kernel / 2) {
    conv = parent.register_module(
        conv_name,
        nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false)));
    bn = parent.register_module(bn_name, nn::BatchNorm2d(out));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    if (folded_bias.defined()) return torch::conv2d(x, conv->weight, folded_bias, stride, padding);
    return bn->forward(conv->forward(x));
  }

  void fold(bool channels_last) {
    const torch::Tensor scale = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
    torch::Tensor w = conv->weight * scale.reshape({-1, 1, 1, 1});
    folded_bias = bn->bias - bn->running_mean * scale;
    conv->weight.set_data(channels_last ? w.contiguous(torch::MemoryFormat::ChannelsLast) : w);
  }

  // relu: a ReLU follows directly (no residual add first).
  void prepare(Engine engine, bool relu) {
    if (engine == Engine::OneDNN)
      packed = at::mkldnn_reorder_conv2d_weight(conv->weight.contiguous().to_mkldnn(),
                                                {padding, padding}, {stride, stride}, {1, 1}, 1);
    else if (engine == Engine::Winograd)
      fast.emplace(conv->weight, folded_bias, stride, padding, relu);
    else
      return;
    conv->weight.set_data(torch::empty({0}));  // only the prepared copy is read from now on
  }

  torch::Tensor forward_onednn(const torch::Tensor& x) const {
    return at::mkldnn_convolution(x, packed, folded_bias, {padding, padding}, {stride, stride},
                                  {1, 1}, 1);
  }
  torch::Tensor forward_fast(const torch::Tensor& x, const torch::Tensor& residual = {},
                             bool relu = false) const {
    return fast->forward(x, residual, relu);
  }
};

class Block : public nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  virtual void fold(bool channels_last) = 0;
  virtual void prepare(Engine engine) = 0;
  // x: a oneDNN tensor; ReLU and the residual add run in place on oneDNN tensors too, so
  // activations stay blocked from the stem to the pooling.
  virtual torch::Tensor forward_onednn(const torch::Tensor& x) const = 0;
  // x: dense channels-last; the residual add and ReLU happen inside the last convolution.
  virtual torch::Tensor forward_fast(const torch::Tensor& x) const = 0;
};

// The 1x1 projection on the shortcut when a block changes resolution or width.
std::optional<ConvBN> make_downsample(nn::Module& parent, int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return std::nullopt;
  auto seq = parent.register_module("downsample", nn::Sequential());
  ConvBN d;
  d.stride = stride;
  d.conv = nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
  d.bn = nn::BatchNorm2d(out);
  seq->push_back(d.conv);  // "downsample.0"
  seq->push_back(d.bn);    // "downsample.1"
  return d;
}

class BasicBlock : public Block {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride)
      : c1_(*this, "conv1", "bn1", inplanes, planes, 3, stride),
        c2_(*this, "conv2", "bn2", planes, planes, 3, 1),
        down_(make_downsample(*this, inplanes, planes * kExpansion, stride)) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor out = c1_.forward(x).relu_();
    out = c2_.forward(out);
    out += down_ ? down_->forward(x) : x;
    return out.relu_();
  }
  void fold(bool cl) override {
    c1_.fold(cl);
    c2_.fold(cl);
    if (down_) down_->fold(cl);
  }
  void prepare(Engine e) override {
    c1_.prepare(e, true);
    c2_.prepare(e, false);
    if (down_) down_->prepare(e, false);
  }
  torch::Tensor forward_onednn(const torch::Tensor& x) const override {
    torch::Tensor out = c1_.forward_onednn(x).relu_();
    out = c2_.forward_onednn(out);
    out.add_(down_ ? down_->forward_onednn(x) : x);
    return out.relu_();
  }
  torch::Tensor forward_fast(const torch::Tensor& x) const override {
    const torch::Tensor shortcut = down_ ? down_->forward_fast(x) : x;
    return c2_.forward_fast(c1_.forward_fast(x, {}, true), shortcut, true);
  }

 private:
  ConvBN c1_, c2_;
  std::optional<ConvBN> down_;
};

class Bottleneck : public Block {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride)
      : c1_(*this, "conv1", "bn1", inplanes, planes, 1, 1),
        c2_(*this, "conv2", "bn2", planes, planes, 3, stride),  // v1.5: stride on the 3x3
        c3_(*this, "conv3", "bn3", planes, planes * kExpansion, 1, 1),
        down_(make_downsample(*this, inplanes, planes * kExpansion, stride)) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor out = c1_.forward(x).relu_();
    out = c2_.forward(out).relu_();
    out = c3_.forward(out);
    out += down_ ? down_->forward(x) : x;
    return out.relu_();
  }
  void fold(bool cl) override {
    c1_.fold(cl);
    c2_.fold(cl);
    c3_.fold(cl);
    if (down_) down_->fold(cl);
  }
  void prepare(Engine e) override {
    c1_.prepare(e, true);
    c2_.prepare(e, true);
    c3_.prepare(e, false);
    if (down_) down_->prepare(e, false);
  }
  torch::Tensor forward_onednn(const torch::Tensor& x) const override {
    torch::Tensor out = c1_.forward_onednn(x).relu_();
    out = c2_.forward_onednn(out).relu_();
    out = c3_.forward_onednn(out);
    out.add_(down_ ? down_->forward_onednn(x) : x);
    return out.relu_();
  }
  torch::Tensor forward_fast(const torch::Tensor& x) const override {
    const torch::Tensor shortcut = down_ ? down_->forward_fast(x) : x;
    torch::Tensor out = c2_.forward_fast(c1_.forward_fast(x, {}, true), {}, true);
    return c3_.forward_fast(out, shortcut, true);
  }

 private:
  ConvBN c1_, c2_, c3_;
  std::optional<ConvBN> down_;
};

class ResNet : public nn::Module {
 public:
  // num_classes == 0: no fc layer (a headless checkpoint, or one whose fc is not needed).
  ResNet(const ResNetSpec& spec, int64_t num_classes) : stem_(*this, "conv1", "bn1", 3, 64, 7, 2) {
    const int64_t expansion = spec.bottleneck ? Bottleneck::kExpansion : BasicBlock::kExpansion;
    int64_t inplanes = 64;
    const std::array<int64_t, 4> widths = {64, 128, 256, 512};
    for (size_t l = 0; l < 4; ++l) {
      auto list = register_module("layer" + std::to_string(l + 1), nn::ModuleList());
      for (int64_t b = 0; b < spec.blocks[l]; ++b) {
        const int64_t stride = (l > 0 && b == 0) ? 2 : 1;
        std::shared_ptr<Block> block;
        if (spec.bottleneck)
          block = std::make_shared<Bottleneck>(inplanes, widths[l], stride);
        else
          block = std::make_shared<BasicBlock>(inplanes, widths[l], stride);
        list->push_back(block);
        layers_[l].push_back(block);
        inplanes = widths[l] * expansion;
      }
    }
    features_ = inplanes;
    if (num_classes > 0) fc_ = register_module("fc", nn::Linear(features_, num_classes));
  }

  // Runs up to `stop_after_layer` (1..4) and returns that feature map, or (0) the pooled
  // features, or (-1) the logits.
  torch::Tensor forward(torch::Tensor x, int stop_after_layer) {
    x = stem_.forward(x).relu_();
    x = torch::max_pool2d(x, 3, 2, 1);
    for (int l = 0; l < 4; ++l) {
      for (const auto& block : layers_[l]) x = block->forward(x);
      if (stop_after_layer == l + 1) return x;
    }
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    if (stop_after_layer == -1) x = fc_->forward(x);
    return x;
  }

  // forward() by an engine; needs fold_batchnorm() and prepare(engine) first. ReLU commutes
  // with max pooling, so it runs on the pooled stem output, a quarter of the size.
  torch::Tensor forward_onednn(const torch::Tensor& x_dense, int stop_after_layer) {
    torch::Tensor x = torch::max_pool2d(stem_.forward_onednn(x_dense.to_mkldnn()), 3, 2, 1);
    x.relu_();
    for (int l = 0; l < 4; ++l) {
      for (const auto& block : layers_[l]) x = block->forward_onednn(x);
      if (stop_after_layer == l + 1) return x.to_dense();
    }
    return head(torch::adaptive_avg_pool2d(x, {1, 1}).to_dense(), stop_after_layer);
  }
  torch::Tensor forward_fast(const torch::Tensor& x_nchw, int stop_after_layer) {
    torch::Tensor x = max_pool_3x3s2_nhwc(stem_.forward_fast(to_nhwc(x_nchw), {}, true));
    for (int l = 0; l < 4; ++l) {
      for (const auto& block : layers_[l]) x = block->forward_fast(x);
      if (stop_after_layer == l + 1) return x.contiguous();
    }
    return head(torch::adaptive_avg_pool2d(x, {1, 1}), stop_after_layer);
  }

  void fold_batchnorm(bool channels_last) {
    stem_.fold(channels_last);
    for (auto& layer : layers_)
      for (auto& block : layer) block->fold(channels_last);
  }

  void prepare(Engine engine) {
    stem_.prepare(engine, true);
    for (auto& layer : layers_)
      for (auto& block : layer) block->prepare(engine);
  }

  // The most images per forward pass that keep the largest activation (the stem's output, or
  // layer1's: 16 floats per input pixel either way) under 30 MiB. glibc serves larger blocks
  // with a fresh mmap on every allocation, and page-faulting them in (kernel zeroing) took ~10%
  // of a resnet50 batch of 16; below its 32 MiB dynamic ceiling freed blocks are reused from
  // the heap. The kernels work per image or per tile, so results do not change.
  int64_t max_images_per_call(int64_t h, int64_t w) const {
    const int64_t h1 = (h - 1) / 2 + 1, w1 = (w - 1) / 2 + 1;    // stem: 7x7, stride 2, pad 3
    const int64_t h2 = (h1 - 1) / 2 + 1, w2 = (w1 - 1) / 2 + 1;  // max pool: 3x3, stride 2, pad 1
    const int64_t floats = std::max<int64_t>(64 * h1 * w1, features_ / 8 * h2 * w2);
    constexpr int64_t kBudget = int64_t{30} << 20;
    return std::max<int64_t>(1, kBudget / (floats * int64_t{sizeof(float)}));
  }

  // Pooled [B, C, 1, 1] → features, or logits.
  torch::Tensor head(const torch::Tensor& pooled, int stop_after_layer) {
    torch::Tensor x = pooled.flatten(1);
    if (stop_after_layer == -1) x = fc_->forward(x);
    return x;
  }

  int64_t features() const { return features_; }
  bool has_fc() const { return !fc_.is_empty(); }
  int64_t num_classes() const { return fc_.is_empty() ? 0 : fc_->options.out_features(); }
  int64_t channels_of_layer(int l) const { return features_ / 8 * (int64_t{1} << (l - 1)); }

 private:
  ConvBN stem_;
  std::array<std::vector<std::shared_ptr<Block>>, 4> layers_;
  nn::Linear fc_{nullptr};
  int64_t features_ = 0;
};

// torch tensor → embedflow Tensor sharing its storage.
Tensor wrap(torch::Tensor t) {
  auto holder = std::make_shared<torch::Tensor>(t.contiguous());
  return Tensor(DType::F32, holder->sizes().vec(), holder, holder->data_ptr());
}

void check_batch(const Tensor& batch, const std::string& who) {
  if (batch.dtype() != DType::F32 || batch.ndim() != 4 || batch.dim(1) != 3)
    throw ModelError(who + ": expected an f32 batch [B, 3, H, W], got " +
                     std::string(dtype_name(batch.dtype())) + " " + batch.shape_str());
}

torch::Tensor l2_normalize(const torch::Tensor& y) {
  // As torch.nn.functional.normalize: x / max(‖x‖, 1e-12).
  return y / y.norm(2, 1, true).clamp_min(1e-12);
}

int layer_index(const std::string& layer) {
  if (layer == "pool") return 0;
  if (layer == "logits") return -1;
  for (int l = 1; l <= 4; ++l)
    if (layer == "layer" + std::to_string(l)) return l;
  throw ModelError("unknown layer '" + layer + "' (expected pool, logits, layer1 … layer4)");
}

// "auto" is Winograd for every architecture: it measured fastest for both resnet18 and resnet50
// (bench/image; the Bottleneck's 1x1 convolutions run on oneDNN's kernels either way).
Engine pick_engine(const ImageEncoderOptions& o) {
  if (o.engine != "auto" && o.engine != "winograd" && o.engine != "onednn" && o.engine != "aten")
    throw ModelError("unknown engine '" + o.engine + "' (expected auto, winograd, onednn, aten)");
  if (o.engine == "aten" || !o.fold_batchnorm) return Engine::ATen;  // the others fold BatchNorm
  if (!at::hasMKLDNN()) {
    if (o.engine == "auto") return Engine::ATen;
    throw ModelError("engine '" + o.engine + "' needs a libtorch built with oneDNN (MKLDNN)");
  }
  return o.engine == "onednn" ? Engine::OneDNN : Engine::Winograd;
}

class ResNetEncoder : public ImageEncoder {
 public:
  ResNetEncoder(const std::string& file, const ImageEncoderOptions& options, const ResNetSpec& spec,
                std::shared_ptr<SafeTensorsFile> weights)
      : file_(file), options_(options), spec_(spec), stop_(layer_index(options.layer)) {
    const SafeTensorInfo* fc = weights->find("fc.weight");
    if (stop_ == -1 && !fc)
      throw ModelError(file + ": layer 'logits' needs the fc layer, but fc.weight is absent");
    // The classifier is only loaded when asked for; other outputs ignore it.
    const int64_t num_classes = (stop_ == -1 && fc && fc->shape.size() == 2) ? fc->shape[0] : 0;
    net_ = std::make_shared<ResNet>(spec, num_classes);

    WeightLoader loader(weights);
    loader.ignore(".*num_batches_tracked");
    if (num_classes == 0) loader.ignore("fc\\..*");
    torch::NoGradGuard no_grad;
    for (auto& p : net_->named_parameters())
      p.value().set_data(loader.take(p.key(), p.value().sizes()));
    for (auto& b : net_->named_buffers()) {
      const std::string& name = b.key();
      const bool counter =
          name.size() >= 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0;
      if (!counter) b.value().set_data(loader.take(name, b.value().sizes()));  // counters: unused
    }
    loader.finish();
    net_->eval();
    if (options_.fold_batchnorm) net_->fold_batchnorm(options_.channels_last);
    for (auto& p : net_->parameters()) p.set_requires_grad(false);
    params_ = 0;
    for (const auto& p : net_->parameters()) params_ += p.numel();
    engine_ = pick_engine(options_);
    net_->prepare(engine_);
  }

  Tensor encode(const Tensor& batch, int threads) const override {
    check_batch(batch, file_);
    set_intra_op_threads(threads);
    c10::InferenceMode guard;
    const torch::Tensor x =
        torch::from_blob(const_cast<void*>(batch.raw()), batch.shape(), torch::kFloat32);
    const int64_t n = x.size(0);
    const int64_t most = options_.max_images_per_call > 0
                             ? options_.max_images_per_call
                             : net_->max_images_per_call(x.size(2), x.size(3));
    // Equal parts (16 at most 9 → 8 + 8, not 9 + 7): the weights are read once per part, and a
    // small last part would read them for few images.
    const int64_t calls = (n + most - 1) / most;
    std::vector<torch::Tensor> parts;
    for (int64_t c = 0; c < calls; ++c)
      parts.push_back(forward(x.slice(0, n * c / calls, n * (c + 1) / calls)));
    torch::Tensor y = parts.size() == 1 ? parts[0] : torch::cat(parts);
    if (options_.normalize && stop_ <= 0) y = l2_normalize(y);
    return wrap(y);
  }

  torch::Tensor forward(const torch::Tensor& x) const {
    if (engine_ == Engine::Winograd) return net_->forward_fast(x, stop_);
    if (engine_ == Engine::OneDNN) return net_->forward_onednn(x, stop_);
    if (options_.channels_last)
      return net_->forward(x.contiguous(torch::MemoryFormat::ChannelsLast), stop_);
    return net_->forward(x, stop_);
  }

  int64_t dim() const override {
    if (stop_ == -1) return net_->num_classes();
    if (stop_ == 0) return net_->features();
    return net_->channels_of_layer(stop_);
  }

  std::string describe() const override {
    std::ostringstream os;
    os << spec_.name << " (torchvision layout), " << params_ << " parameters, output "
       << options_.layer << " [" << dim() << (stop_ > 0 ? ", h, w]" : "]");
    if (options_.fold_batchnorm) os << ", BatchNorm folded";
    if (engine_ == Engine::Winograd)
      os << ", channels-last Winograd/GEMM engine";
    else if (engine_ == Engine::OneDNN)
      os << ", oneDNN blocked layout, weights prepacked";
    else if (options_.channels_last)
      os << ", channels-last";
    return os.str();
  }

 private:
  std::string file_;
  ImageEncoderOptions options_;
  ResNetSpec spec_;
  int stop_;
  Engine engine_ = Engine::ATen;
  std::shared_ptr<ResNet> net_;
  int64_t params_ = 0;
};

class TorchScriptEncoder : public ImageEncoder {
 public:
  TorchScriptEncoder(const std::string& file, const ImageEncoderOptions& options)
      : module_(TorchScriptModule::load(file)), options_(options) {
    if (options.layer != "pool")
      throw ModelError(file + ": layer '" + options.layer +
                       "' needs a ResNet from safetensors; a TorchScript module returns what its "
                       "forward returns (use layer: pool)");
  }

  Tensor encode(const Tensor& batch, int threads) const override {
    check_batch(batch, module_->path());
    Tensor y = module_->forward(batch, threads);
    if (y.ndim() != 2 || y.dim(0) != batch.dim(0))
      throw ModelError(module_->path() + ": forward returned " + y.shape_str() +
                       ", expected [batch, dim] with batch " + std::to_string(batch.dim(0)));
    dim_.store(y.dim(1));
    if (options_.normalize) {
      float* p = y.data<float>();
      for (int64_t i = 0; i < y.dim(0); ++i) {
        double ss = 0;
        for (int64_t j = 0; j < y.dim(1); ++j)
          ss += double(p[i * y.dim(1) + j]) * p[i * y.dim(1) + j];
        const float inv = 1.0f / std::max(float(std::sqrt(ss)), 1e-12f);
        for (int64_t j = 0; j < y.dim(1); ++j) p[i * y.dim(1) + j] *= inv;
      }
    }
    return y;
  }
  int64_t dim() const override { return dim_.load(); }
  std::string describe() const override {
    return "TorchScript module " + module_->path() + ", " +
           std::to_string(module_->parameter_count()) + " parameters";
  }

 private:
  std::unique_ptr<TorchScriptModule> module_;
  ImageEncoderOptions options_;
  mutable std::atomic<int64_t> dim_{0};
};

}  // namespace

const std::vector<ResNetSpec>& resnet_specs() {
  static const std::vector<ResNetSpec> specs = {{"resnet18", false, {2, 2, 2, 2}},
                                                {"resnet34", false, {3, 4, 6, 3}},
                                                {"resnet50", true, {3, 4, 6, 3}},
                                                {"resnet101", true, {3, 4, 23, 3}},
                                                {"resnet152", true, {3, 8, 36, 3}}};
  return specs;
}

const ResNetSpec* find_resnet_spec(const std::string& arch) {
  for (const auto& s : resnet_specs())
    if (s.name == arch) return &s;
  return nullptr;
}

std::string detect_resnet_arch(const SafeTensorsFile& file) {
  const std::string& path = file.path();
  if (file.find("conv1.0.weight"))
    throw ModelError(path +
                     ": deep-stem ResNet variant (conv1.0.weight, e.g. timm resnet50d) is "
                     "not supported; use the plain torchvision/timm resnet layout");
  if (file.find("embedder.embedder.convolution.weight") ||
      file.find("resnet.embedder.embedder.convolution.weight"))
    throw ModelError(path +
                     ": Hugging Face transformers ResNetModel layout is not supported; use "
                     "the torchvision or timm checkpoint (keys conv1.weight, layer1.0...)");
  if (!file.find("conv1.weight") || !file.find("layer1.0.conv1.weight"))
    throw ModelError(path +
                     ": not a ResNet checkpoint (no conv1.weight / layer1.0.conv1.weight); "
                     "set arch, or check the file");
  const bool bottleneck = file.find("layer1.0.conv3.weight") != nullptr;
  int64_t blocks[4] = {0, 0, 0, 0};
  for (int l = 0; l < 4; ++l)
    while (file.find("layer" + std::to_string(l + 1) + "." + std::to_string(blocks[l]) +
                     ".conv1.weight"))
      ++blocks[l];
  for (const auto& s : resnet_specs())
    if (s.bottleneck == bottleneck && std::equal(blocks, blocks + 4, s.blocks)) return s.name;
  throw ModelError(path + ": ResNet-like keys with " + (bottleneck ? "Bottleneck" : "BasicBlock") +
                   " blocks per stage [" + std::to_string(blocks[0]) + ", " +
                   std::to_string(blocks[1]) + ", " + std::to_string(blocks[2]) + ", " +
                   std::to_string(blocks[3]) + "] match no known architecture; set arch");
}

std::string resnet_arch_from_config(const nlohmann::json& config) {
  if (!config.is_object()) return "";
  for (const char* key : {"architecture", "arch"}) {
    auto it = config.find(key);
    if (it != config.end() && it->is_string() && find_resnet_spec(it->get<std::string>()))
      return it->get<std::string>();
  }
  return "";
}

const std::vector<std::string>& resnet_arches() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& s : resnet_specs()) n.push_back(s.name);
    return n;
  }();
  return names;
}

std::unique_ptr<ImageEncoder> ImageEncoder::load(const std::string& path,
                                                 const ImageEncoderOptions& options) {
  use_caching_tensor_allocator();
  const ModelPath where = resolve_model_path(path, model_format_from_name(options.format));
  if (where.format == ModelFormat::TorchScript)
    return std::make_unique<TorchScriptEncoder>(where.weights, options);

  auto file = SafeTensorsFile::open(where.weights);
  std::string arch = options.arch;
  if (arch.empty() && !where.config.empty())
    arch = resnet_arch_from_config(read_json_file(where.config));
  if (arch.empty()) arch = detect_resnet_arch(*file);  // throws when the layout is not a ResNet
  const ResNetSpec* spec = find_resnet_spec(arch);
  if (!spec) {
    std::string known;
    for (const auto& n : resnet_arches()) known += (known.empty() ? "" : ", ") + n;
    throw ModelError(where.weights + ": unknown image architecture '" + arch +
                     "' (known: " + known + ")");
  }
  return std::make_unique<ResNetEncoder>(where.weights, options, *spec, std::move(file));
}

}  // namespace embedflow::models
