#include "models/sentence_transformer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "embedflow/strings.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/tokenizers/python_text.h"
#include "models/tokenizers/tokenizer.h"
#include "models/torch_bridge.h"
#include "models/torch_runtime.h"
#include "models/transformer/linear.h"
#include "models/transformer/text_model.h"
#include "models/weights.h"

namespace embedflow::models {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kPoolingOrder = {"cls",           "max",          "mean",
                                                "mean_sqrt_len", "weightedmean", "lasttoken"};

TextPooling pooling_of(const std::string& name) {
  if (name == "cls") return TextPooling::Cls;
  if (name == "max") return TextPooling::Max;
  if (name == "mean") return TextPooling::Mean;
  if (name == "mean_sqrt_len") return TextPooling::MeanSqrtLen;
  if (name == "weightedmean") return TextPooling::WeightedMean;
  if (name == "lasttoken") return TextPooling::LastToken;
  throw ModelError("unknown pooling mode '" + name +
                   "' (expected cls, max, mean, mean_sqrt_len, weightedmean or lasttoken)");
}

struct PoolingConfig {
  std::vector<std::string> modes;  // in sentence-transformers' concatenation order
  bool include_prompt = true;
};

// 1_Pooling/config.json → the enabled modes in sentence-transformers' concatenation order.
PoolingConfig read_pooling(const std::string& dir) {
  const std::string path = (fs::path(dir) / "config.json").string();
  nlohmann::json j = read_json_file(path);
  const std::pair<const char*, const char*> keys[] = {
      {"pooling_mode_cls_token", "cls"},
      {"pooling_mode_max_tokens", "max"},
      {"pooling_mode_mean_tokens", "mean"},
      {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"},
      {"pooling_mode_weightedmean_tokens", "weightedmean"},
      {"pooling_mode_lasttoken", "lasttoken"}};
  PoolingConfig p;
  for (const auto& [key, mode] : keys)
    if (j.value(key, false)) p.modes.push_back(mode);
  if (j.contains("pooling_mode") && j["pooling_mode"].is_string() && p.modes.empty())
    p.modes.push_back(j["pooling_mode"].get<std::string>());
  if (p.modes.empty())
    throw ModelError(path +
                     ": no pooling mode is enabled (expected one of "
                     "pooling_mode_cls_token, pooling_mode_mean_tokens, … set to true)");
  for (const auto& m : p.modes) pooling_of(m);
  p.include_prompt = j.value("include_prompt", true);
  return p;
}

// A sentence-transformers Dense module: y = activation(W x + b), W x + b on the encoder's own
// packed fp32 GEMM (batch-invariant like it; the bias inside it where that is oneDNN's matmul).
struct Dense {
  enum class Activation { Identity, Tanh, Relu, Sigmoid, Gelu };
  transformer::Linear linear;
  int64_t in = 0, out = 0;
  Activation activation = Activation::Tanh;
  std::string activation_name;

  // x [rows, in] → [rows, out].
  std::vector<float> apply(const std::vector<float>& x, int64_t rows) const {
    const torch::Tensor y =
        linear.apply(torch::from_blob(const_cast<float*>(x.data()), {rows, in}));
    std::vector<float> v(y.data_ptr<float>(), y.data_ptr<float>() + rows * out);
    for (float& e : v) e = activate(e);
    return v;
  }

  float activate(float v) const {
    switch (activation) {
      case Activation::Identity:
        break;
      case Activation::Tanh:
        return std::tanh(v);
      case Activation::Relu:
        return v > 0 ? v : 0;
      case Activation::Sigmoid:
        return 1.0f / (1.0f + std::exp(-v));
      case Activation::Gelu:
        return 0.5f * v * (1.0f + std::erf(v / std::sqrt(2.0f)));
    }
    return v;
  }
};

// <dir>/config.json ({in_features, out_features, bias, activation_function}) and the weights
// beside it (linear.weight, linear.bias).
Dense read_dense(const std::string& dir, int64_t in_width) {
  const std::string path = (fs::path(dir) / "config.json").string();
  nlohmann::json j = read_json_file(path);
  Dense d;
  auto integer = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() < 1 ||
        j[key].get<int64_t>() > (int64_t{1} << 20))
      throw ModelError(path + ": \"" + key + "\" must be a positive integer");
    return j[key].get<int64_t>();
  };
  d.in = integer("in_features");
  d.out = integer("out_features");
  if (d.in != in_width)
    throw ModelError(path + ": in_features is " + std::to_string(d.in) +
                     " but the module before it gives " + std::to_string(in_width) + " values");
  const std::string act = j.value("activation_function", "torch.nn.modules.activation.Tanh");
  d.activation_name = act.substr(act.rfind('.') == std::string::npos ? 0 : act.rfind('.') + 1);
  const std::pair<const char*, Dense::Activation> acts[] = {
      {"Identity", Dense::Activation::Identity},
      {"Tanh", Dense::Activation::Tanh},
      {"ReLU", Dense::Activation::Relu},
      {"Sigmoid", Dense::Activation::Sigmoid},
      {"GELU", Dense::Activation::Gelu}};
  bool known = false;
  for (const auto& [name, a] : acts)
    if (d.activation_name == name) {
      d.activation = a;
      known = true;
    }
  if (!known)
    throw ModelError(path + ": activation_function " + act +
                     " is not supported (Identity, Tanh, ReLU, Sigmoid or GELU)");
  const fs::path weights = fs::path(dir) / "model.safetensors";
  if (!fs::exists(weights))
    throw ModelError(dir +
                     ": no model.safetensors (a Dense module saved as pytorch_model.bin is a "
                     "pickle, which embedflow does not open: convert it with safetensors' "
                     "save_file)");
  WeightLoader w(SafeTensorsFile::open(weights.string()));
  torch::Tensor wt = w.take("linear.weight", {d.out, d.in}).contiguous();
  torch::Tensor bt;
  if (j.value("bias", true)) bt = w.take("linear.bias", {d.out}).contiguous();
  w.finish();
  d.linear = transformer::Linear::head(wt, bt);
  return d;
}

// config_sentence_transformers.json's prompts and default_prompt_name ("" for none).
struct Prompts {
  std::vector<std::pair<std::string, std::string>> by_name;
  std::string default_name;
};

Prompts read_prompts(const std::string& dir) {
  Prompts p;
  const fs::path path = fs::path(dir) / "config_sentence_transformers.json";
  if (!fs::exists(path)) return p;
  nlohmann::json j = read_json_file(path.string());
  if (j.contains("prompts") && j["prompts"].is_object())
    for (const auto& [name, text] : j["prompts"].items()) {
      if (!text.is_string())
        throw ModelError(path.string() + ": prompt \"" + name + "\" must be a string");
      p.by_name.emplace_back(name, text.get<std::string>());
    }
  if (j.contains("default_prompt_name") && j["default_prompt_name"].is_string())
    p.default_name = j["default_prompt_name"].get<std::string>();
  return p;
}

// The text put in front of every input: the option's prompt, else the named prompt, else the
// file's default.
std::string resolve_prompt(const SentenceTransformerOptions& o, const Prompts& prompts,
                           const std::string& dir) {
  if (!o.prompt.empty() && !o.prompt_name.empty())
    throw ModelError("give prompt or prompt_name, not both");
  if (!o.prompt.empty()) return o.prompt;
  const std::string name = o.prompt_name.empty() ? prompts.default_name : o.prompt_name;
  if (name.empty()) return "";
  for (const auto& [n, text] : prompts.by_name)
    if (n == name) return text;
  std::string known;
  for (const auto& [n, text] : prompts.by_name) known += (known.empty() ? "" : ", ") + n;
  throw ModelError(dir + "/config_sentence_transformers.json has no prompt named \"" + name +
                   "\" (" + (known.empty() ? "it defines no prompts" : "it has: " + known) + ")");
}

}  // namespace

struct SentenceTransformer::Impl {
  TextTransformer model;
  std::shared_ptr<const tokenizers::Tokenizer> tokenizer;
  std::vector<std::string> pooling_names;
  std::vector<TextPooling> pooling;
  std::vector<Dense> dense;
  bool normalize = false;
  bool lower_case_input = false;
  int64_t max_seq_length = 512;
  std::string precision;
  std::string prompt;
  Prompts prompts;
  std::vector<std::string> warnings;
  int threads = 0;
  int64_t batch_size = 32;

  Impl(TextTransformer m, std::shared_ptr<const tokenizers::Tokenizer> t)
      : model(std::move(m)), tokenizer(std::move(t)) {}

  int64_t pooled_width() const {
    return model.info().hidden_size * static_cast<int64_t>(pooling.size());
  }
  int64_t dim() const { return dense.empty() ? pooled_width() : dense.back().out; }

  // The embeddings of one batch into out [n, dim], one forward pass with the calling thread's
  // intra-op threads.
  void embed_into(const std::vector<TokenIds>& token_ids, float* out) const {
    const auto n = static_cast<int64_t>(token_ids.size());
    std::vector<float> x = model.encode(token_ids, pooling);
    int64_t width = pooled_width();
    for (const Dense& d : dense) {
      x = d.apply(x, n);
      width = d.out;
    }
    std::copy(x.begin(), x.end(), out);
    if (normalize) l2_normalize_rows(out, n, width);
  }
};

SentenceTransformer::SentenceTransformer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SentenceTransformer::~SentenceTransformer() = default;

std::shared_ptr<const SentenceTransformer> SentenceTransformer::load(
    const std::string& path, const SentenceTransformerOptions& options) {
  ModelPath mp = resolve_model_path(path, ModelFormat::Safetensors);
  if (mp.config.empty())
    throw ModelError(mp.dir + ": no config.json (expected the Hugging Face model config beside " +
                     fs::path(mp.weights).filename().string() + ")");

  // The module list: Transformer first, then Pooling, any Dense modules and an optional
  // Normalize, in that order.
  PoolingConfig pooling_config;
  std::vector<std::string> dense_dirs;
  bool normalize = false;
  for (size_t i = 0; i < mp.modules.size(); ++i) {
    const auto& m = mp.modules[i];
    const std::string type =
        m.type.substr(m.type.rfind('.') == std::string::npos ? 0 : m.type.rfind('.') + 1);
    const bool after_pooling = !pooling_config.modes.empty();
    if (i == 0) {
      if (type != "Transformer")
        throw ModelError(path + "/modules.json: the first module is " + m.type +
                         "; expected sentence_transformers.models.Transformer");
    } else if (type == "Pooling" && !after_pooling) {
      pooling_config = read_pooling(m.path);
    } else if (type == "Dense" && after_pooling && !normalize) {
      dense_dirs.push_back(m.path);
    } else if (type == "Normalize" && !normalize) {
      normalize = true;
    } else {
      throw ModelError(path + "/modules.json: module " + std::to_string(i) + " (" + m.type +
                       ") is not supported there (supported: Transformer, then Pooling, any "
                       "Dense modules and Normalize, in that order)");
    }
  }

  const Precision precision = precision_named(options.precision, mp.dir);
  TextTransformer model =
      TextTransformer::load(read_json_file(mp.config), mp.config, mp.weights, precision);
  const TextModelInfo& info = model.info();

  int64_t max_seq_length = info.max_tokens;
  bool lower_case_input = false;
  const fs::path sbert = fs::path(mp.dir) / "sentence_bert_config.json";
  if (fs::exists(sbert)) {
    nlohmann::json j = read_json_file(sbert.string());
    if (j.contains("max_seq_length") && j["max_seq_length"].is_number_integer())
      max_seq_length = j["max_seq_length"].get<int64_t>();
    lower_case_input = j.value("do_lower_case", false);
  } else {
    const fs::path tc = fs::path(mp.dir) / "tokenizer_config.json";
    if (fs::exists(tc)) {
      nlohmann::json j = read_json_file(tc.string());
      if (j.contains("model_max_length") && j["model_max_length"].is_number_integer())
        max_seq_length = std::min(max_seq_length, j["model_max_length"].get<int64_t>());
    }
  }
  if (options.max_seq_length) max_seq_length = *options.max_seq_length;
  if (max_seq_length < 2 || max_seq_length > info.max_tokens)
    throw ModelError(path + ": max_seq_length " + std::to_string(max_seq_length) +
                     " must be between 2 and the " + std::to_string(info.max_tokens) +
                     " tokens the model's position table allows");

  std::vector<std::string> pooling_names = pooling_config.modes;
  if (!options.pooling.empty()) {
    pooling_names.clear();
    for (const auto& mode : kPoolingOrder)  // sentence-transformers' concatenation order
      if (std::find(options.pooling.begin(), options.pooling.end(), mode) != options.pooling.end())
        pooling_names.push_back(mode);
    for (const auto& m : options.pooling) pooling_of(m);
  }
  if (pooling_names.empty()) pooling_names = {"mean"};
  if (options.normalize) normalize = *options.normalize;

  Prompts prompts = read_prompts(mp.dir);
  const std::string prompt = resolve_prompt(options, prompts, mp.dir);
  if (!prompt.empty() && !pooling_config.include_prompt)
    throw ModelError(mp.dir +
                     "/1_Pooling/config.json: include_prompt is false (the prompt's tokens are "
                     "left out of the pooling), which is not supported; run without a prompt or "
                     "with include_prompt true");

  std::shared_ptr<const tokenizers::Tokenizer> tokenizer = [&] {
    try {
      return tokenizers::Tokenizer::from_folder(mp.dir);
    } catch (const std::runtime_error& e) {
      throw ModelError(e.what());
    }
  }();
  if (static_cast<int64_t>(tokenizer->vocab_size()) > info.vocab_size)
    throw ModelError(mp.dir + ": the tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                     " tokens but config.json's vocab_size is " + std::to_string(info.vocab_size));

  auto impl = std::make_unique<Impl>(std::move(model), std::move(tokenizer));
  impl->pooling_names = pooling_names;
  if (mp.modules.empty() && options.pooling.empty() && !options.normalize)
    impl->warnings.push_back(
        mp.dir +
        " has no modules.json, so it is read as a plain transformers model: mean pooling and no "
        "normalisation (sentence-transformers does the same and warns). If the model was "
        "published with a Pooling or Normalize module, use its sentence-transformers folder, or "
        "set pooling and normalize");
  for (const auto& m : pooling_names) impl->pooling.push_back(pooling_of(m));
  int64_t width = impl->pooled_width();
  for (const auto& dir : dense_dirs) {
    impl->dense.push_back(read_dense(dir, width));
    width = impl->dense.back().out;
  }
  impl->normalize = normalize;
  impl->lower_case_input = lower_case_input;
  impl->max_seq_length = max_seq_length;
  impl->precision = options.precision;
  impl->prompt = prompt;
  impl->prompts = std::move(prompts);
  impl->threads = options.threads;
  impl->batch_size = std::max<int64_t>(1, options.batch_size);
  return std::shared_ptr<const SentenceTransformer>(new SentenceTransformer(std::move(impl)));
}

TokenIds SentenceTransformer::tokenize(const std::string& text) const {
  std::string stripped = tokenizers::strip_python_whitespace(impl_->prompt + text);
  if (impl_->lower_case_input) stripped = tokenizers::python_lower(stripped);
  return impl_->tokenizer->encode_ids(stripped, static_cast<size_t>(impl_->max_seq_length));
}

Tensor SentenceTransformer::encode(const std::vector<TokenIds>& token_ids, int threads) const {
  if (threads > 0) set_intra_op_threads(threads);
  const int64_t n = static_cast<int64_t>(token_ids.size());
  Tensor out(DType::F32, {n, dim()});
  if (n > 0) impl_->embed_into(token_ids, out.data<float>());
  return out;
}

Tensor SentenceTransformer::encode(const std::vector<std::string>& texts) const {
  std::vector<TokenIds> ids(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    try {
      ids[i] = tokenize(texts[i]);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("text " + std::to_string(i) + ": " + e.what());
    }
  }
  // Longest first, so each batch holds sequences of similar length.
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return ids[a].size() > ids[b].size(); });
  const int64_t d = dim();
  Tensor out(DType::F32, {static_cast<int64_t>(texts.size()), d});
  float* o = out.data<float>();
  const size_t batch_size = static_cast<size_t>(impl_->batch_size);
  const size_t n_batches = (order.size() + batch_size - 1) / batch_size;
  auto run_batch = [&](size_t b) {
    const size_t start = b * batch_size, end = std::min(order.size(), start + batch_size);
    std::vector<TokenIds> batch;
    for (size_t i = start; i < end; ++i) batch.push_back(std::move(ids[order[i]]));
    std::vector<float> e(batch.size() * static_cast<size_t>(d));
    impl_->embed_into(batch, e.data());
    for (size_t i = start; i < end; ++i)
      std::copy(e.begin() + static_cast<int64_t>(i - start) * d,
                e.begin() + static_cast<int64_t>(i - start + 1) * d, o + order[i] * d);
  };
  const int threads = impl_->threads > 0 ? impl_->threads : intra_op_threads();
  if (threads > 1 && n_batches >= 2 * static_cast<size_t>(threads)) {
    // Enough batches to keep every thread busy: whole batches side by side, one per thread,
    // each forward on its thread alone. No barrier then separates the passes of a forward,
    // and one-thread GEMMs add up to more than one GEMM split over the threads. Threads take
    // the next batch as they finish one, longest first, so the last to end are short.
    std::atomic<size_t> next{0};
    run_on_intra_op_threads(threads, [&](int) {
      for (size_t b; (b = next.fetch_add(1)) < n_batches;) run_batch(b);
    });
  } else {
    if (impl_->threads > 0) set_intra_op_threads(impl_->threads);
    for (size_t b = 0; b < n_batches; ++b) run_batch(b);
  }
  return out;
}

int64_t SentenceTransformer::dim() const {
  return impl_->dim();
}
int64_t SentenceTransformer::hidden_size() const {
  return impl_->model.info().hidden_size;
}
int64_t SentenceTransformer::max_seq_length() const {
  return impl_->max_seq_length;
}
bool SentenceTransformer::normalizes() const {
  return impl_->normalize;
}
const std::vector<std::string>& SentenceTransformer::pooling() const {
  return impl_->pooling_names;
}
const std::vector<std::string>& SentenceTransformer::warnings() const {
  return impl_->warnings;
}
const std::string& SentenceTransformer::precision() const {
  return impl_->precision;
}
const std::string& SentenceTransformer::prompt() const {
  return impl_->prompt;
}
const std::vector<std::pair<std::string, std::string>>& SentenceTransformer::prompts() const {
  return impl_->prompts.by_name;
}
double SentenceTransformer::linear_flops(int64_t tokens) const {
  return impl_->model.linear_flops(tokens);
}

std::string SentenceTransformer::describe() const {
  const TextModelInfo& c = impl_->model.info();
  std::string s = c.family + " " + std::to_string(c.num_layers) + "x" +
                  std::to_string(c.hidden_size) + " (" + std::to_string(c.num_heads) +
                  " heads), vocab " + std::to_string(c.vocab_size) + ", max_seq_length " +
                  std::to_string(impl_->max_seq_length) + ", pooling " +
                  join(impl_->pooling_names, "+");
  for (const Dense& d : impl_->dense)
    s += ", dense " + std::to_string(d.in) + "->" + std::to_string(d.out) + " " + d.activation_name;
  if (impl_->normalize) s += ", normalize";
  if (!impl_->prompt.empty()) s += ", prompt \"" + impl_->prompt + "\"";
  return s + ", " + impl_->model.precision_path();
}

}  // namespace embedflow::models
