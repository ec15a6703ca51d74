#include "models/clip.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

#include "embedflow/cpu.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/torch_bridge.h"
#include "models/torch_runtime.h"
#include "models/transformer/encoder.h"
#include "models/weights.h"

namespace embedflow::models {

namespace fs = std::filesystem;

// ---- config ---------------------------------------------------------------------------------

namespace {

int64_t positive_int(const nlohmann::json& j, const char* key, int64_t def,
                     const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0)
    throw ModelError(where + ": '" + key + "' must be a positive integer, found " + j[key].dump());
  return j[key].get<int64_t>();
}

void read_encoder(const nlohmann::json& j, ClipEncoderConfig& c, const std::string& where) {
  c.hidden_size = positive_int(j, "hidden_size", c.hidden_size, where);
  c.intermediate_size = positive_int(j, "intermediate_size", c.intermediate_size, where);
  c.num_layers = positive_int(j, "num_hidden_layers", c.num_layers, where);
  c.num_heads = positive_int(j, "num_attention_heads", c.num_heads, where);
  if (j.contains("hidden_act") && !j["hidden_act"].is_null()) {
    if (!j["hidden_act"].is_string())
      throw ModelError(where + ": 'hidden_act' must be a string, found " + j["hidden_act"].dump());
    c.hidden_act = j["hidden_act"].get<std::string>();
  }
  if (c.hidden_act != "quick_gelu" && c.hidden_act != "gelu")
    throw ModelError(where + ": hidden_act '" + c.hidden_act +
                     "' is not supported (CLIP checkpoints use 'quick_gelu' or 'gelu')");
  if (j.contains("layer_norm_eps") && j["layer_norm_eps"].is_number())
    c.layer_norm_eps = j["layer_norm_eps"].get<double>();
  if (c.hidden_size % c.num_heads != 0)
    throw ModelError(where + ": hidden_size " + std::to_string(c.hidden_size) +
                     " is not divisible by num_attention_heads " + std::to_string(c.num_heads));
}

// A tower's section: `text_config`, or the `text_config_dict` older files carry.
const nlohmann::json& section(const nlohmann::json& config, const std::string& name) {
  static const nlohmann::json empty = nlohmann::json::object();
  for (const std::string& key : {name, name + "_dict"})
    if (config.contains(key) && config[key].is_object()) return config[key];
  return empty;
}

}  // namespace

ClipConfig parse_clip_config(const nlohmann::json& config, const nlohmann::json& preprocessor,
                             const std::string& where) {
  if (!config.is_object()) throw ModelError(where + ": expected a JSON object");
  ClipConfig c;
  // Hugging Face's defaults (CLIPTextConfig / CLIPVisionConfig): ViT-B/32.
  c.text.hidden_size = 512;
  c.text.intermediate_size = 2048;
  c.text.num_layers = 12;
  c.text.num_heads = 8;
  c.vision.hidden_size = 768;
  c.vision.intermediate_size = 3072;
  c.vision.num_layers = 12;
  c.vision.num_heads = 12;

  const nlohmann::json& text = section(config, "text_config");
  read_encoder(text, c.text, where + " text_config");
  c.text.vocab_size = positive_int(text, "vocab_size", c.text.vocab_size, where + " text_config");
  c.text.max_position_embeddings = positive_int(
      text, "max_position_embeddings", c.text.max_position_embeddings, where + " text_config");
  const nlohmann::json& vision = section(config, "vision_config");
  read_encoder(vision, c.vision, where + " vision_config");
  c.vision.image_size =
      positive_int(vision, "image_size", c.vision.image_size, where + " vision_config");
  c.vision.patch_size =
      positive_int(vision, "patch_size", c.vision.patch_size, where + " vision_config");
  c.vision.num_channels = positive_int(vision, "num_channels", 3, where + " vision_config");
  if (c.vision.num_channels != 3)
    throw ModelError(where + " vision_config: num_channels " +
                     std::to_string(c.vision.num_channels) + " is not supported (RGB only)");
  if (c.vision.image_size % c.vision.patch_size != 0)
    throw ModelError(where + " vision_config: image_size " + std::to_string(c.vision.image_size) +
                     " is not a multiple of patch_size " + std::to_string(c.vision.patch_size));
  c.projection_dim = positive_int(config, "projection_dim", c.projection_dim, where);

  if (!preprocessor.is_null())
    c.processor = parse_image_processor(preprocessor, where, "CLIPImageProcessor");
  else
    c.processor = image_processor_defaults("CLIPImageProcessor", where);
  if (preprocessor.is_null() || !preprocessor.contains("size"))
    c.processor.shortest_edge = c.vision.image_size;
  if (preprocessor.is_null() || !preprocessor.contains("crop_size"))
    c.processor.crop_height = c.processor.crop_width = c.vision.image_size;
  if (c.processor.exact_size)
    throw ModelError(where + ": a CLIP image processor resizes the shorter side; size " +
                     preprocessor["size"].dump() + " is not supported");
  return c;
}

// ---- the towers -----------------------------------------------------------------------------

namespace {

struct LayerNorm {
  torch::Tensor weight, bias;
  double eps = 1e-5;
  torch::Tensor operator()(const torch::Tensor& x) const {
    return torch::layer_norm(x, {weight.size(0)}, weight, bias, eps);
  }
};

// Both towers are the pre-LN transformer core (CLIPEncoder): LayerNorm before attention and
// before the MLP, residuals added after each; the text tower's attention is causal.
std::unique_ptr<transformer::Encoder> load_encoder(WeightLoader& w, const std::string& tower,
                                                   const ClipEncoderConfig& c, bool causal,
                                                   Precision precision) {
  transformer::EncoderConfig e;
  e.hidden_size = c.hidden_size;
  e.num_layers = c.num_layers;
  e.num_heads = c.num_heads;
  e.intermediate_size = c.intermediate_size;
  e.activation = *transformer::activation_named(c.hidden_act);  // checked by parse_clip_config
  e.norm = transformer::NormPlacement::Pre;
  e.layer_norm_eps = static_cast<float>(c.layer_norm_eps);
  e.causal = causal;
  const transformer::LayerKeys keys{tower + ".encoder.layers.{}.",
                                    "self_attn.q_proj",
                                    "self_attn.k_proj",
                                    "self_attn.v_proj",
                                    "self_attn.out_proj",
                                    "layer_norm1",
                                    "mlp.fc1",
                                    "mlp.fc2",
                                    "layer_norm2"};
  auto encoder = std::make_unique<transformer::Encoder>(e, w, keys);
  encoder->set_precision(precision);
  return encoder;
}

}  // namespace

struct ClipModel::Impl {
  std::string dir;
  ClipConfig config;
  std::shared_ptr<const tokenizers::Tokenizer> tokenizer;
  int32_t eos_id = -1;
  int64_t n_params = 0;
  Precision precision = Precision::F32;

  // vision
  torch::Tensor patch_embedding;   // [D, 3, P, P]
  torch::Tensor class_embedding;   // [D]
  torch::Tensor vision_positions;  // [N + 1, D]
  LayerNorm pre_layrnorm, post_layernorm;
  std::unique_ptr<transformer::Encoder> vision_encoder;
  transformer::Linear visual_projection;  // [proj, D], no bias
  // text
  torch::Tensor token_embedding;  // [V, D]
  torch::Tensor text_positions;   // [77, D]
  std::unique_ptr<transformer::Encoder> text_encoder;
  LayerNorm final_layer_norm;
  transformer::Linear text_projection;  // [proj, D], no bias
};

ClipModel::ClipModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipModel::~ClipModel() = default;

const ClipConfig& ClipModel::config() const {
  return impl_->config;
}
const tokenizers::Tokenizer& ClipModel::tokenizer() const {
  return *impl_->tokenizer;
}

int32_t ClipModel::eos_id() const {
  return impl_->eos_id;
}
const std::string& ClipModel::dir() const {
  return impl_->dir;
}

std::shared_ptr<const ClipModel> ClipModel::load(const std::string& path, Precision precision) {
  use_caching_tensor_allocator();
  const ModelPath mp = resolve_model_path(path, ModelFormat::Safetensors);
  // One instance per weights file, shared while anyone holds it. Loading happens under the
  // lock, so two stages opening the same folder at once still load it once.
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const ClipModel>> cache;
  std::error_code ec;
  std::string key = fs::weakly_canonical(mp.weights, ec).string();
  if (ec) key = mp.weights;
  // The level in effect picks the kernels when the model loads (tests load at several).
  key += std::string("|") + precision_name(precision) + "|" +
         std::string(cpu::level_name(cpu::active_level()));
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = cache[key].lock()) return existing;
  std::shared_ptr<const ClipModel> model(new ClipModel(load_impl(mp, precision)));
  for (auto it = cache.begin(); it != cache.end();)
    it = it->second.expired() ? cache.erase(it) : std::next(it);
  cache[key] = model;
  return model;
}

std::unique_ptr<ClipModel::Impl> ClipModel::load_impl(const ModelPath& mp, Precision precision) {
  if (!mp.modules.empty() && mp.modules.front().type.find("CLIPModel") == std::string::npos)
    throw ModelError(mp.input + ": the first sentence-transformers module is '" +
                     mp.modules.front().type + "', not sentence_transformers.models.CLIPModel");
  if (mp.config.empty())
    throw ModelError(mp.dir + ": no config.json (a Hugging Face CLIPModel folder has one)");
  auto impl = std::make_unique<Impl>();
  impl->dir = mp.dir;
  impl->precision = precision;
  const fs::path dir(mp.dir);
  nlohmann::json processor;  // null when the folder has none
  if (fs::exists(dir / "preprocessor_config.json"))
    processor = read_json_file((dir / "preprocessor_config.json").string());
  impl->config = parse_clip_config(read_json_file(mp.config), processor, mp.config);
  const ClipConfig& c = impl->config;

  // tokenizer.json as published (HF's CLIPTokenizerFast), else vocab.json + merges.txt
  // converted the way transformers converts them.
  try {
    impl->tokenizer = tokenizers::Tokenizer::from_folder(mp.dir);
  } catch (const std::runtime_error& e) {
    throw ModelError(std::string(e.what()) +
                     " (the CLIP tokenizer files belong beside the weights)");
  }
  impl->eos_id = impl->tokenizer->token_to_id("<|endoftext|>");
  if (impl->eos_id < 0)
    throw ModelError(impl->tokenizer->source() +
                     ": no <|endoftext|> token (a CLIP tokenizer has one; the text tower pools "
                     "at its position)");
  if (static_cast<int64_t>(impl->tokenizer->vocab_size()) > c.text.vocab_size)
    throw ModelError(
        impl->tokenizer->source() + ": " + std::to_string(impl->tokenizer->vocab_size()) +
        " tokens, but config.json text_config.vocab_size is " + std::to_string(c.text.vocab_size));

  WeightLoader w(SafeTensorsFile::open(mp.weights));
  w.ignore(".*position_ids");  // buffers in older Hugging Face checkpoints
  const int64_t dv = c.vision.hidden_size, dt = c.text.hidden_size, p = c.vision.patch_size;
  const int64_t n_positions = (c.vision.image_size / p) * (c.vision.image_size / p) + 1;
  impl->patch_embedding = w.take("vision_model.embeddings.patch_embedding.weight", {dv, 3, p, p});
  impl->class_embedding = w.take("vision_model.embeddings.class_embedding", {dv});
  impl->vision_positions =
      w.take("vision_model.embeddings.position_embedding.weight", {n_positions, dv});
  const double ev = c.vision.layer_norm_eps, et = c.text.layer_norm_eps;
  impl->pre_layrnorm = {w.take("vision_model.pre_layrnorm.weight", {dv}),
                        w.take("vision_model.pre_layrnorm.bias", {dv}), ev};
  impl->vision_encoder = load_encoder(w, "vision_model", c.vision, false, precision);
  impl->post_layernorm = {w.take("vision_model.post_layernorm.weight", {dv}),
                          w.take("vision_model.post_layernorm.bias", {dv}), ev};
  impl->visual_projection =
      transformer::Linear::head(w.take("visual_projection.weight", {c.projection_dim, dv}), {});

  impl->token_embedding =
      w.take("text_model.embeddings.token_embedding.weight", {c.text.vocab_size, dt});
  impl->text_positions = w.take("text_model.embeddings.position_embedding.weight",
                                {c.text.max_position_embeddings, dt});
  impl->text_encoder = load_encoder(w, "text_model", c.text, true, precision);
  impl->final_layer_norm = {w.take("text_model.final_layer_norm.weight", {dt}),
                            w.take("text_model.final_layer_norm.bias", {dt}), et};
  impl->text_projection =
      transformer::Linear::head(w.take("text_projection.weight", {c.projection_dim, dt}), {});
  if (w.has("logit_scale")) w.take_any("logit_scale");  // used for training only
  w.finish();

  for (const auto& info : w.file().tensors()) {
    int64_t n = 1;
    for (int64_t s : info.shape) n *= s;
    if (info.name.find("position_ids") == std::string::npos) impl->n_params += n;
  }
  return impl;
}

Tensor ClipModel::encode(const Tensor& pixels, int threads) const {
  const Impl& m = *impl_;
  const int64_t s = m.config.vision.image_size;
  if (pixels.dtype() != DType::F32 || pixels.ndim() != 4 || pixels.dim(1) != 3 ||
      pixels.dim(2) != s || pixels.dim(3) != s)
    throw std::invalid_argument("CLIP image batch must be f32 [B, 3, " + std::to_string(s) + ", " +
                                std::to_string(s) + "] (the model's image_size), got " +
                                std::string(dtype_name(pixels.dtype())) + " " + pixels.shape_str());
  set_intra_op_threads(threads);
  torch::InferenceMode guard;
  auto x = to_torch(pixels);
  const int64_t b = x.size(0), p = m.config.vision.patch_size;
  x = torch::conv2d(x, m.patch_embedding, {}, p);  // [B, D, S/P, S/P]
  x = x.flatten(2).transpose(1, 2);                // [B, N, D]
  x = torch::cat({m.class_embedding.view({1, 1, -1}).expand({b, 1, -1}), x}, 1);
  x = m.pre_layrnorm(x + m.vision_positions);  // [B, N + 1, D]
  // Every image is one sequence of N + 1 rows of the packed matrix the encoder runs on.
  const int64_t len = x.size(1);
  x = x.reshape({b * len, x.size(2)}).contiguous();
  std::vector<int64_t> offsets(static_cast<size_t>(b + 1));
  for (int64_t i = 0; i <= b; ++i) offsets[static_cast<size_t>(i)] = i * len;
  m.vision_encoder->forward(x, offsets);
  auto pooled = m.post_layernorm(x.view({b, len, -1}).select(1, 0));
  return from_torch(m.visual_projection.apply(pooled));
}

TokenIds ClipModel::tokenize(const std::string& text) const {
  return impl_->tokenizer->encode_ids(
      text, static_cast<size_t>(impl_->config.text.max_position_embeddings));
}

Tensor ClipModel::encode(const std::vector<TokenIds>& ids, int threads) const {
  const Impl& m = *impl_;
  const int64_t max_len = m.config.text.max_position_embeddings;
  const int64_t eos = m.eos_id;
  if (ids.empty()) return Tensor(DType::F32, {0, m.config.projection_dim});
  std::vector<int64_t> eos_at(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& seq = ids[i];
    if (seq.empty() || static_cast<int64_t>(seq.size()) > max_len)
      throw std::invalid_argument("CLIP token sequence " + std::to_string(i) + " has " +
                                  std::to_string(seq.size()) + " ids; expected 1.." +
                                  std::to_string(max_len));
    auto it = std::find(seq.begin(), seq.end(), eos);
    if (it == seq.end())
      throw std::invalid_argument("CLIP token sequence " + std::to_string(i) +
                                  " has no end-of-text id " + std::to_string(eos));
    for (const int64_t id : seq)
      if (id < 0 || id >= m.config.text.vocab_size)
        throw std::invalid_argument("CLIP token id " + std::to_string(id) +
                                    " is outside the vocabulary (size " +
                                    std::to_string(m.config.text.vocab_size) + ")");
    eos_at[i] = it - seq.begin();
  }
  // Sequences packed without padding, token + position embeddings; the causal encoder, then
  // the final LayerNorm on the pooled (first EOS) rows only: it is per row.
  const auto b = static_cast<int64_t>(ids.size());
  const int64_t d = m.config.text.hidden_size;
  std::vector<int64_t> offsets(ids.size() + 1, 0);
  for (size_t i = 0; i < ids.size(); ++i)
    offsets[i + 1] = offsets[i] + static_cast<int64_t>(ids[i].size());
  set_intra_op_threads(threads);
  torch::InferenceMode guard;
  torch::Tensor x = torch::empty({offsets.back(), d});
  float* xp = x.data_ptr<float>();
  const float* tokens = m.token_embedding.data_ptr<float>();
  const float* positions = m.text_positions.data_ptr<float>();
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t t = 0; t < ids[i].size(); ++t) {
      float* row = xp + (offsets[i] + static_cast<int64_t>(t)) * d;
      const float* tok = tokens + static_cast<int64_t>(ids[i][t]) * d;
      const float* pos = positions + static_cast<int64_t>(t) * d;
      for (int64_t c = 0; c < d; ++c) row[c] = tok[c] + pos[c];
    }
  m.text_encoder->forward(x, offsets);
  std::vector<int64_t> rows(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) rows[i] = offsets[i] + eos_at[i];
  auto pooled =
      m.final_layer_norm(x.index_select(0, torch::from_blob(rows.data(), {b}, torch::kInt64)));
  return from_torch(m.text_projection.apply(pooled));
}

std::string ClipModel::describe() const {
  const ClipConfig& c = impl_->config;
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << "CLIP ViT /" << c.vision.patch_size << " at " << c.vision.image_size
    << "px (vision " << c.vision.hidden_size << "x" << c.vision.num_layers << ", text "
    << c.text.hidden_size << "x" << c.text.num_layers << ", " << c.projection_dim << "-d), "
    << static_cast<double>(impl_->n_params) / 1e6 << "M parameters, "
    << impl_->vision_encoder->precision_path();
  return s.str();
}

}  // namespace embedflow::models
