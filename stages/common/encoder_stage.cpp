#include "stages/common/encoder_stage.h"

#include <algorithm>
#include <cstring>
#include <map>

#include <cctype>
#include <iostream>
#include <mutex>
#include <set>

#include "embedflow/errors.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/torch_bridge.h"

namespace embedflow {

namespace {

// A safetensors file that says it holds random weights (its "note" metadata, as the test and
// demo models write it): their embeddings look like any others and mean nothing, so the run
// says so, once per file per process, on standard error.
void warn_if_random_weights(const std::string& stage_id, const std::string& model) {
  std::string weights, note;
  try {
    const models::ModelPath where = models::resolve_model_path(model);
    if (where.format != models::ModelFormat::Safetensors) return;
    weights = where.weights;
    const auto file = models::SafeTensorsFile::open(weights);
    auto it = file->metadata().find("note");
    if (it == file->metadata().end()) return;
    note = it->second;
  } catch (const std::exception&) {
    return;  // the model loaded; its metadata is only a hint
  }
  std::string lower = note;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.find("random") == std::string::npos) return;
  static std::mutex mutex;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(mutex);
  if (!warned.insert(weights).second) return;
  std::cerr << "stage '" << stage_id << "': warning: " << weights
            << " holds random weights (its metadata: \"" << note
            << "\"): test and demo output, not meaningful embeddings\n";
}

}  // namespace

EncoderStageBase::EncoderStageBase(const Params& params, Kind output_kind)
    : params_(params), output_kind_(output_kind) {}

void EncoderStageBase::open_model(const StageContext& ctx,
                                  const std::function<void(const std::string&)>& load) {
  stage_id_ = ctx.stage_id.empty() ? params_.stage_id() : ctx.stage_id;
  threads_ = std::max(1, ctx.threads);
  try {
    load(params_.get_string("model"));
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw params_.error("model", e.what());
  }
  warn_if_random_weights(stage_id_, params_.get_string("model"));
}

void EncoderStageBase::fail(Item& out, const std::string& message) const {
  out.error = std::make_shared<const ItemError>(ItemError{stage_id_, message});
}

void EncoderStageBase::emit(Tensor result, const std::vector<size_t>& items,
                            std::vector<Item>& out) const {
  if (result.ndim() < 1 || result.dim(0) != static_cast<int64_t>(items.size()))
    throw std::runtime_error("the model returned " + result.shape_str() + " for " +
                             std::to_string(items.size()) + " inputs");
  if (items.empty()) return;
  if (normalize_) models::l2_normalize_rows(result);
  const std::vector<int64_t> row_shape(result.shape().begin() + 1, result.shape().end());
  const int64_t row_numel = result.numel() / result.dim(0);
  auto owner = std::make_shared<Tensor>(std::move(result));
  float* rows = owner->data<float>();
  for (size_t r = 0; r < items.size(); ++r) {
    Item& o = out[items[r]];
    o.kind = output_kind_;
    o.tensor = Tensor(DType::F32, row_shape, owner, rows + static_cast<int64_t>(r) * row_numel);
  }
}

std::vector<ModelCall<Tensor>> model_calls(std::vector<Tensor> inputs, std::vector<size_t> items) {
  std::map<std::vector<int64_t>, std::vector<size_t>> by_shape;  // shape → positions in inputs
  std::vector<std::vector<int64_t>> shapes;                      // first seen, first run
  for (size_t k = 0; k < inputs.size(); ++k) {
    auto& rows = by_shape[inputs[k].shape()];
    if (rows.empty()) shapes.push_back(inputs[k].shape());
    rows.push_back(k);
  }
  std::vector<ModelCall<Tensor>> calls;
  for (const auto& shape : shapes) {
    const std::vector<size_t>& rows = by_shape[shape];
    std::vector<int64_t> batch_shape{static_cast<int64_t>(rows.size())};
    batch_shape.insert(batch_shape.end(), shape.begin(), shape.end());
    ModelCall<Tensor> call{Tensor(inputs[rows[0]].dtype(), batch_shape), {}};
    auto* dst = static_cast<char*>(call.batch.raw_mut());
    for (size_t k : rows) {
      const size_t bytes = inputs[k].nbytes();
      std::memcpy(dst, inputs[k].raw(), bytes);
      dst += bytes;
      call.items.push_back(items[k]);
    }
    calls.push_back(std::move(call));
  }
  return calls;
}

std::vector<ModelCall<std::vector<models::TokenIds>>> model_calls(
    std::vector<models::TokenIds> inputs, std::vector<size_t> items) {
  if (inputs.empty()) return {};
  std::vector<ModelCall<std::vector<models::TokenIds>>> calls(1);
  calls[0].batch = std::move(inputs);
  calls[0].items = std::move(items);
  return calls;
}

}  // namespace embedflow
