#include "models/sentence_transformer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "embedflow/strings.h"
#include "models/bert.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/tokenizers/python_text.h"
#include "models/tokenizers/tokenizer.h"
#include "models/torch_bridge.h"
#include "models/torch_runtime.h"

namespace embedflow::models {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kPoolingOrder = {"cls", "max", "mean", "mean_sqrt_len"};

BertPooling pooling_of(const std::string& name) {
  if (name == "cls") return BertPooling::Cls;
  if (name == "max") return BertPooling::Max;
  if (name == "mean") return BertPooling::Mean;
  if (name == "mean_sqrt_len") return BertPooling::MeanSqrtLen;
  throw ModelError("unknown pooling mode '" + name +
                   "' (expected cls, max, mean or mean_sqrt_len)");
}

// 1_Pooling/config.json → the enabled modes in sentence-transformers' concatenation order.
std::vector<std::string> read_pooling(const std::string& dir) {
  const std::string path = (fs::path(dir) / "config.json").string();
  nlohmann::json j = read_json_file(path);
  const std::pair<const char*, const char*> keys[] = {
      {"pooling_mode_cls_token", "cls"},
      {"pooling_mode_max_tokens", "max"},
      {"pooling_mode_mean_tokens", "mean"},
      {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"}};
  std::vector<std::string> modes;
  for (const auto& [key, mode] : keys)
    if (j.value(key, false)) modes.push_back(mode);
  for (const char* unsupported : {"pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"})
    if (j.value(unsupported, false))
      throw ModelError(path + ": " + unsupported +
                       " is not supported (supported: cls, max, mean, mean_sqrt_len)");
  if (j.contains("pooling_mode") && j["pooling_mode"].is_string() && modes.empty())
    modes.push_back(j["pooling_mode"].get<std::string>());
  if (modes.empty())
    throw ModelError(path +
                     ": no pooling mode is enabled (expected one of "
                     "pooling_mode_cls_token, pooling_mode_mean_tokens, … set to true)");
  for (const auto& m : modes) pooling_of(m);
  return modes;
}

}  // namespace

struct SentenceTransformer::Impl {
  BertModel model;
  std::shared_ptr<const tokenizers::Tokenizer> tokenizer;
  std::vector<std::string> pooling_names;
  std::vector<BertPooling> pooling;
  bool normalize = false;
  bool lower_case_input = false;
  int64_t max_seq_length = 512;
  std::string precision;
  std::vector<std::string> warnings;
  int threads = 0;
  int64_t batch_size = 32;

  Impl(BertModel m, std::shared_ptr<const tokenizers::Tokenizer> t)
      : model(std::move(m)), tokenizer(std::move(t)) {}

  // The pooled (and normalised) embeddings of one batch into out [n, dim], one forward pass
  // with the calling thread's intra-op threads.
  void embed_into(const std::vector<TokenIds>& token_ids, float* out) const {
    const std::vector<float> pooled = model.encode(token_ids, pooling);
    std::copy(pooled.begin(), pooled.end(), out);
    const auto n = static_cast<int64_t>(token_ids.size());
    if (normalize) l2_normalize_rows(out, n, static_cast<int64_t>(pooled.size()) / n);
  }
};

SentenceTransformer::SentenceTransformer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SentenceTransformer::~SentenceTransformer() = default;

std::shared_ptr<const SentenceTransformer> SentenceTransformer::load(
    const std::string& path, const SentenceTransformerOptions& options) {
  ModelPath mp = resolve_model_path(path, ModelFormat::Safetensors);
  if (mp.config.empty())
    throw ModelError(mp.dir +
                     ": no config.json (expected the Hugging Face BertModel config "
                     "beside " +
                     fs::path(mp.weights).filename().string() + ")");

  // The module list: Transformer first, then Pooling and an optional Normalize.
  std::vector<std::string> pooling_names;
  bool normalize = false;
  for (size_t i = 0; i < mp.modules.size(); ++i) {
    const auto& m = mp.modules[i];
    const std::string type =
        m.type.substr(m.type.rfind('.') == std::string::npos ? 0 : m.type.rfind('.') + 1);
    if (i == 0) {
      if (type != "Transformer")
        throw ModelError(path + "/modules.json: the first module is " + m.type +
                         "; expected sentence_transformers.models.Transformer");
    } else if (type == "Pooling") {
      pooling_names = read_pooling(m.path);
    } else if (type == "Normalize") {
      normalize = true;
    } else {
      throw ModelError(path + "/modules.json: module " + m.type +
                       " is not supported (supported: Transformer, Pooling, Normalize)");
    }
  }

  BertConfig config = BertConfig::from_json(read_json_file(mp.config), mp.config);

  int64_t max_seq_length = config.max_position_embeddings;
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
  if (max_seq_length < 2 || max_seq_length > config.max_position_embeddings)
    throw ModelError(path + ": max_seq_length " + std::to_string(max_seq_length) +
                     " must be between 2 and the model's max_position_embeddings (" +
                     std::to_string(config.max_position_embeddings) + ")");

  if (!options.pooling.empty()) {
    pooling_names.clear();
    for (const auto& mode : kPoolingOrder)  // sentence-transformers' concatenation order
      if (std::find(options.pooling.begin(), options.pooling.end(), mode) != options.pooling.end())
        pooling_names.push_back(mode);
    for (const auto& m : options.pooling) pooling_of(m);
  }
  if (pooling_names.empty()) pooling_names = {"mean"};
  if (options.normalize) normalize = *options.normalize;

  BertPrecision precision;
  if (options.precision == "fp32")
    precision = BertPrecision::F32;
  else if (options.precision == "int8")
    precision = BertPrecision::Int8;
  else
    throw ModelError("precision '" + options.precision + "' is not supported (fp32 or int8)");

  std::shared_ptr<const tokenizers::Tokenizer> tokenizer = [&] {
    try {
      return tokenizers::Tokenizer::from_folder(mp.dir);
    } catch (const std::runtime_error& e) {
      throw ModelError(e.what());
    }
  }();
  if (static_cast<int64_t>(tokenizer->vocab_size()) > config.vocab_size)
    throw ModelError(mp.dir + ": the tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                     " tokens but config.json's vocab_size is " +
                     std::to_string(config.vocab_size));

  auto impl =
      std::make_unique<Impl>(BertModel::load(mp.weights, config, precision), std::move(tokenizer));
  impl->pooling_names = pooling_names;
  if (mp.modules.empty() && options.pooling.empty() && !options.normalize)
    impl->warnings.push_back(
        mp.dir +
        " has no modules.json, so it is read as a plain transformers model: mean pooling and no "
        "normalisation (sentence-transformers does the same and warns). If the model was "
        "published with a Pooling or Normalize module, use its sentence-transformers folder, or "
        "set pooling and normalize");
  for (const auto& m : pooling_names) impl->pooling.push_back(pooling_of(m));
  impl->normalize = normalize;
  impl->lower_case_input = lower_case_input;
  impl->max_seq_length = max_seq_length;
  impl->precision = options.precision;
  impl->threads = options.threads;
  impl->batch_size = std::max<int64_t>(1, options.batch_size);
  return std::shared_ptr<const SentenceTransformer>(new SentenceTransformer(std::move(impl)));
}

TokenIds SentenceTransformer::tokenize(const std::string& text) const {
  std::string stripped = tokenizers::strip_python_whitespace(text);
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
  return hidden_size() * static_cast<int64_t>(impl_->pooling.size());
}
int64_t SentenceTransformer::hidden_size() const {
  return impl_->model.config().hidden_size;
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
double SentenceTransformer::linear_flops(int64_t tokens) const {
  return bert_linear_flops(impl_->model.config(), tokens);
}

std::string SentenceTransformer::describe() const {
  const auto& c = impl_->model.config();
  return "BERT " + std::to_string(c.num_hidden_layers) + "x" + std::to_string(c.hidden_size) +
         " (" + std::to_string(c.num_attention_heads) + " heads), vocab " +
         std::to_string(c.vocab_size) + ", max_seq_length " +
         std::to_string(impl_->max_seq_length) + ", pooling " + join(impl_->pooling_names, "+") +
         (impl_->normalize ? ", normalize" : "") + ", " + impl_->precision;
}

}  // namespace embedflow::models
