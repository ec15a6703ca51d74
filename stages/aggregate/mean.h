// aggregate.mean: pools the items derived from one source item (the segments of a recording)
// back into one embedding per source item.
#pragma once

#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema aggregate_mean_schema();

class AggregateMeanStage : public GroupStage {
 public:
  explicit AggregateMeanStage(const Params& params);
  void process(const std::vector<ItemPtr>& in, std::vector<Item>& out) override;
  // The mean of rows of one shape has that shape.
  std::optional<RowShape> output_row_shape(const std::optional<RowShape>& input) const override {
    if (!input) return std::nullopt;
    return RowShape{input->shape, DType::F32};
  }

 private:
  bool normalize_;
};

}  // namespace embedflow
