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

#include "embedflow/strings.h"
#include "models/conv_engine.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/torch_bridge.h"
#include "models/torch_runtime.h"
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
  int64_t stride = 1, padding = 0, groups = 1;
  torch::Tensor folded_bias;     // defined once folded
  torch::Tensor packed;          // OneDNN: the opaque oneDNN weight
  std::optional<FastConv> fast;  // Winograd

  ConvBN() = default;
  ConvBN(nn::Module& parent, const std::string& conv_name, const std::string& bn_name, int64_t in,
         int64_t out, int64_t kernel, int64_t stride_, int64_t groups_ = 1)
      : stride(stride_), padding(kernel / 2), groups(groups_) {
    conv = parent.register_module(conv_name, nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                                                            .stride(stride)
                                                            .padding(padding)
                                                            .groups(groups)
                                                            .bias(false)));
    bn = parent.register_module(bn_name, nn::BatchNorm2d(out));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    if (folded_bias.defined())
      return torch::conv2d(x, conv->weight, folded_bias, stride, padding, 1, groups);
    return bn->forward(conv->forward(x));
  }

  void fold(bool channels_last) {
    const torch::Tensor scale = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
    torch::Tensor w = conv->weight * scale.reshape({-1, 1, 1, 1});
    folded_bias = bn->bias - bn->running_mean * scale;
    conv->weight.set_data(channels_last ? w.contiguous(torch::MemoryFormat::ChannelsLast) : w);
  }

  void prepare(Engine engine) {
    if (engine == Engine::OneDNN)
      packed =
          at::mkldnn_reorder_conv2d_weight(conv->weight.contiguous().to_mkldnn(),
                                           {padding, padding}, {stride, stride}, {1, 1}, groups);
    else if (engine == Engine::Winograd)
      fast.emplace(conv->weight, folded_bias, stride, padding, groups);
    else
      return;
    conv->weight.set_data(torch::empty({0}));  // only the prepared copy is read from now on
  }

  torch::Tensor forward_onednn(const torch::Tensor& x) const {
    return at::mkldnn_convolution(x, packed, folded_bias, {padding, padding}, {stride, stride},
                                  {1, 1}, groups);
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
    c1_.prepare(e);
    c2_.prepare(e);
    if (down_) down_->prepare(e);
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

// ResNeXt groups the 3x3 convolution and Wide ResNet widens it: width = planes ·
// width_per_group / 64 · groups (64 and 1: the plain ResNet's planes).
class Bottleneck : public Block {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride, int64_t groups,
             int64_t width_per_group)
      : width_(planes * width_per_group / 64 * groups),
        c1_(*this, "conv1", "bn1", inplanes, width_, 1, 1),
        c2_(*this, "conv2", "bn2", width_, width_, 3, stride, groups),  // v1.5: stride on the 3x3
        c3_(*this, "conv3", "bn3", width_, planes * kExpansion, 1, 1),
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
    c1_.prepare(e);
    c2_.prepare(e);
    c3_.prepare(e);
    if (down_) down_->prepare(e);
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
  int64_t width_;
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
          block = std::make_shared<Bottleneck>(inplanes, widths[l], stride, spec.groups,
                                               spec.width_per_group);
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
    stem_.prepare(engine);
    for (auto& layer : layers_)
      for (auto& block : layer) block->prepare(engine);
  }

  // The most images per forward pass that keep the largest activation (the stem's output, or
  // layer1's: 16 floats per input pixel either way) under 30 MiB, which bounds the memory a
  // batch's activations take. (It was set when glibc served such blocks with a fresh mmap each
  // time; the block cache (tensor_allocator.cpp) reuses them now, and a 64 MiB bound, resnet50's
  // 16 images at 224 px in one pass instead of 8 + 8, measured +3% at batch 16 for +123 MB of
  // peak RSS: not taken.) The kernels work per image or per tile, so results do not change.
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

int layer_index(const std::string& layer) {
  if (layer == "pool") return 0;
  if (layer == "logits") return -1;
  for (int l = 1; l <= 4; ++l)
    if (layer == "layer" + std::to_string(l)) return l;
  throw ModelError("unknown layer '" + layer + "' (expected pool, logits, layer1 … layer4)");
}

// "auto" is Winograd for every architecture: it measured fastest for both resnet18 and resnet50
// (bench/image; the Bottleneck's 1x1 convolutions run on oneDNN's kernels either way).
Engine pick_engine(const ResNetOptions& o) {
  if (o.engine != "auto" && o.engine != "winograd" && o.engine != "onednn" && o.engine != "aten")
    throw ModelError("unknown engine '" + o.engine + "' (expected auto, winograd, onednn, aten)");
  if (o.engine == "aten" || !o.fold_batchnorm) return Engine::ATen;  // the others fold BatchNorm
  if (!at::hasMKLDNN()) {
    if (o.engine == "auto") return Engine::ATen;
    throw ModelError("engine '" + o.engine + "' needs a libtorch built with oneDNN (MKLDNN)");
  }
  if (o.engine == "onednn") return Engine::OneDNN;
  if (!fast_conv_available()) {
    if (o.engine == "auto") return Engine::OneDNN;
    throw ModelError("engine 'winograd' needs embedflow built with libdnnl-dev");
  }
  return Engine::Winograd;
}

}  // namespace

const std::vector<ResNetSpec>& resnet_specs() {
  static const std::vector<ResNetSpec> specs = {{"resnet18", false, {2, 2, 2, 2}},
                                                {"resnet34", false, {3, 4, 6, 3}},
                                                {"resnet50", true, {3, 4, 6, 3}},
                                                {"resnet101", true, {3, 4, 23, 3}},
                                                {"resnet152", true, {3, 8, 36, 3}},
                                                {"resnext50_32x4d", true, {3, 4, 6, 3}, 32, 4},
                                                {"resnext101_32x8d", true, {3, 4, 23, 3}, 32, 8},
                                                {"resnext101_64x4d", true, {3, 4, 23, 3}, 64, 4},
                                                {"wide_resnet50_2", true, {3, 4, 6, 3}, 1, 128},
                                                {"wide_resnet101_2", true, {3, 4, 23, 3}, 1, 128}};
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
  // The first block's 3x3 ([width, width / groups, 3, 3]) on 64 planes tells the groups and the
  // width per group: ResNeXt and Wide ResNet share the plain ResNet's keys.
  int64_t groups = 1, width_per_group = 64;
  const SafeTensorInfo* conv2 = file.find("layer1.0.conv2.weight");
  if (bottleneck && conv2 && conv2->shape.size() == 4 && conv2->shape[0] > 0 &&
      conv2->shape[1] > 0 && conv2->shape[0] % conv2->shape[1] == 0) {
    groups = conv2->shape[0] / conv2->shape[1];
    width_per_group = conv2->shape[1];
  }
  for (const auto& s : resnet_specs())
    if (s.bottleneck == bottleneck && std::equal(blocks, blocks + 4, s.blocks) &&
        s.groups == groups && s.width_per_group == width_per_group)
      return s.name;
  throw ModelError(path + ": ResNet-like keys with " + (bottleneck ? "Bottleneck" : "BasicBlock") +
                   " blocks per stage [" + std::to_string(blocks[0]) + ", " +
                   std::to_string(blocks[1]) + ", " + std::to_string(blocks[2]) + ", " +
                   std::to_string(blocks[3]) + "], groups " + std::to_string(groups) +
                   ", width per group " + std::to_string(width_per_group) +
                   ", match no known architecture (" + join(resnet_arches(), ", ") + "); set arch");
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

struct ResNetEncoder::Impl {
  Impl(const std::string& file, const ResNetOptions& options, const ResNetSpec& spec,
       std::shared_ptr<SafeTensorsFile> weights)
      : file(file), options(options), spec(spec), stop(layer_index(options.layer)) {
    const SafeTensorInfo* fc = weights->find("fc.weight");
    if (stop == -1 && !fc)
      throw ModelError(file + ": layer 'logits' needs the fc layer, but fc.weight is absent");
    // The classifier is only loaded when asked for; other outputs ignore it.
    const int64_t num_classes = (stop == -1 && fc && fc->shape.size() == 2) ? fc->shape[0] : 0;
    net = std::make_shared<ResNet>(spec, num_classes);

    WeightLoader loader(weights);
    loader.ignore(".*num_batches_tracked");
    if (num_classes == 0) loader.ignore("fc\\..*");
    torch::NoGradGuard no_grad;
    for (auto& p : net->named_parameters())
      p.value().set_data(loader.take(p.key(), p.value().sizes()));
    for (auto& b : net->named_buffers()) {
      const std::string& name = b.key();
      const bool counter =
          name.size() >= 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0;
      if (!counter) b.value().set_data(loader.take(name, b.value().sizes()));  // counters: unused
    }
    loader.finish();
    net->eval();
    if (options.fold_batchnorm) net->fold_batchnorm(options.channels_last);
    for (auto& p : net->parameters()) p.set_requires_grad(false);
    for (const auto& p : net->parameters()) params += p.numel();
    engine = pick_engine(options);
    net->prepare(engine);
    // oneDNN's direct convolutions split the work over images, never over a sum, and the
    // winograd engine's GEMMs sum each row in a fixed order (WeightGemm in conv_engine.cpp);
    // ATen's convolutions measured otherwise (tests/image/resnet_test.cpp).
    batch_invariant = engine == Engine::OneDNN || engine == Engine::Winograd;
  }

  torch::Tensor forward(const torch::Tensor& x) const {
    if (engine == Engine::Winograd) return net->forward_fast(x, stop);
    if (engine == Engine::OneDNN) return net->forward_onednn(x, stop);
    if (options.channels_last)
      return net->forward(x.contiguous(torch::MemoryFormat::ChannelsLast), stop);
    return net->forward(x, stop);
  }

  std::string file;
  ResNetOptions options;
  ResNetSpec spec;
  int stop;
  Engine engine = Engine::ATen;
  bool batch_invariant = false;  // an image's output is the same bytes in any batch
  std::shared_ptr<ResNet> net;
  int64_t params = 0;
};

ResNetEncoder::ResNetEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResNetEncoder::~ResNetEncoder() = default;

std::shared_ptr<const ResNetEncoder> ResNetEncoder::load(const std::string& path,
                                                         const ResNetOptions& options) {
  use_caching_tensor_allocator();
  const ModelPath where = resolve_model_path(path);
  if (where.format == ModelFormat::TorchScript)
    throw ModelError(where.weights +
                     ": a TorchScript archive, not ResNet safetensors (TorchScriptEncoder runs "
                     "it: format torchscript)");
  auto file = SafeTensorsFile::open(where.weights);
  std::string arch = options.arch;
  if (arch.empty() && !where.config.empty())
    arch = resnet_arch_from_config(read_json_file(where.config));
  if (arch.empty()) arch = detect_resnet_arch(*file);  // throws when the layout is not a ResNet
  const ResNetSpec* spec = find_resnet_spec(arch);
  if (!spec)
    throw ModelError(where.weights + ": unknown image architecture '" + arch +
                     "' (known: " + join(resnet_arches(), ", ") + ")");
  return std::shared_ptr<const ResNetEncoder>(
      new ResNetEncoder(std::make_unique<Impl>(where.weights, options, *spec, std::move(file))));
}

Tensor ResNetEncoder::encode(const Tensor& images, int threads) const {
  const Impl& m = *impl_;
  check_image_batch(images, m.file);
  set_intra_op_threads(threads);
  c10::InferenceMode guard;
  const torch::Tensor x = to_torch(images);
  const int64_t n = x.size(0);
  const int64_t most = m.options.max_images_per_call > 0
                           ? m.options.max_images_per_call
                           : m.net->max_images_per_call(x.size(2), x.size(3));
  // Equal parts (16 at most 9 → 8 + 8, not 9 + 7): the weights are read once per part, and a
  // small last part would read them for few images.
  const int64_t calls = (n + most - 1) / most;
  std::vector<torch::Tensor> parts;
  for (int64_t c = 0; c < calls; ++c)
    parts.push_back(m.forward(x.slice(0, n * c / calls, n * (c + 1) / calls)));
  Tensor y = from_torch(parts.size() == 1 ? parts[0] : torch::cat(parts));
  if (m.options.normalize && m.stop <= 0) l2_normalize_rows(y);
  return y;
}

int64_t ResNetEncoder::dim() const {
  if (impl_->stop == -1) return impl_->net->num_classes();
  if (impl_->stop == 0) return impl_->net->features();
  return impl_->net->channels_of_layer(impl_->stop);
}

std::string ResNetEncoder::describe() const {
  const Impl& m = *impl_;
  std::ostringstream os;
  os << m.spec.name << " (torchvision layout), " << m.params << " parameters, output "
     << m.options.layer << " [" << dim() << (m.stop > 0 ? ", h, w]" : "]");
  if (m.options.fold_batchnorm) os << ", BatchNorm folded";
  if (m.engine == Engine::Winograd)
    os << ", channels-last Winograd/GEMM engine";
  else if (m.engine == Engine::OneDNN)
    os << ", oneDNN blocked layout, weights prepacked";
  else if (m.options.channels_last)
    os << ", channels-last";
  os << (m.batch_invariant ? "; batch-invariant" : "; last bits vary with the batch");
  return os.str();
}

}  // namespace embedflow::models
