// The plumbing every encode.* stage shares, in one place (as Arrow Acero's MapNode holds what
// every map node does): a stage derives from EncoderStage<Model, Input> and says only which
// model its `model` param loads and how one item becomes one model input. The base opens the
// model (a load failure is reported at the `model` param, file:line:col), forms the model calls
// from the batch, fails exactly the items that cannot be encoded, and hands each item its output
// row, sharing the batch output's storage.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "embedflow/params.h"
#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "models/encoder.h"
#include "stages/common/encoder_params.h"

namespace embedflow {

// What does not depend on the model's type.
class EncoderStageBase : public BatchStage {
 protected:
  EncoderStageBase(const Params& params, Kind output_kind);

  // Records the stage id and threads, then runs `load` on the `model` param's value. A
  // ConfigError passes as it is; any other exception becomes Params::error("model", …).
  void open_model(const StageContext& ctx, const std::function<void(const std::string&)>& load);
  // Fails `out` alone.
  void fail(Item& out, const std::string& message) const;
  // Hands row r of `result` ([items.size(), …]) to out[items[r]] as the stage's output kind,
  // sharing result's storage (L2-normalised first with normalize_output(true)).
  void emit(Tensor result, const std::vector<size_t>& items, std::vector<Item>& out) const;
  // For a model that stages with different wishes share (CLIP), so the model cannot normalise.
  void normalize_output(bool on) { normalize_ = on; }

  const Params params_;
  int threads_ = 1;

 private:
  std::string stage_id_;
  Kind output_kind_;
  bool normalize_ = false;
};

// One model call: its batch and, per row, the index of the item it belongs to.
template <class Batch>
struct ModelCall {
  Batch batch;
  std::vector<size_t> items;
};

// Tensors of equal shape stacked into [n, …], one call per shape (first seen, first run): an
// image model takes one size per call.
std::vector<ModelCall<Tensor>> model_calls(std::vector<Tensor> inputs, std::vector<size_t> items);
// Token id lists, all in one call.
std::vector<ModelCall<std::vector<models::TokenIds>>> model_calls(
    std::vector<models::TokenIds> inputs, std::vector<size_t> items);

// Model: what load() returns (it has `Tensor encode(const Batch&, int threads) const`).
// Input: what prepare() makes of one item (Tensor for images, TokenIds for text).
template <class Model, class Input>
class EncoderStage : public EncoderStageBase {
 public:
  void open(const StageContext& ctx) override {
    open_model(ctx, [this](const std::string& path) { model_ = load(path); });
  }

  void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) override {
    if (!model_) throw std::logic_error(params_.stage_id() + ": process_batch before open");
    std::vector<Input> inputs;
    std::vector<size_t> items;
    for (size_t i = 0; i < in.size(); ++i) {
      try {
        inputs.push_back(prepare(*in[i], out[i]));
        items.push_back(i);
      } catch (const std::exception& e) {
        fail(out[i], e.what());
      }
    }
    for (auto& call : model_calls(std::move(inputs), std::move(items)))
      emit(model_->encode(call.batch, threads_), call.items, out);
  }

  std::string description() const override { return model_ ? model_->describe() : ""; }
  void close() override { model_.reset(); }

 protected:
  using EncoderStageBase::EncoderStageBase;

  // The model `path` (the `model` param) names.
  virtual std::shared_ptr<const Model> load(const std::string& path) const = 0;
  // The model input for one item; throwing fails that item only. `out` may take meta.
  virtual Input prepare(const Item& in, Item& out) const = 0;
  const Model& model() const { return *model_; }
  bool loaded() const { return model_ != nullptr; }

 private:
  std::shared_ptr<const Model> model_;
};

}  // namespace embedflow
