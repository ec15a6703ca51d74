#include "stages/common/encoder_stage.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "embedflow/errors.h"
#include "models/torch_bridge.h"

namespace embedflow {

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
