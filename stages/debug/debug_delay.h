// debug.delay: passes items through after a reproducible random pause, to exercise ordering
// under concurrency and to stand in for a slow stage.
#pragma once

#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema debug_delay_schema();

class DebugDelay : public ItemStage {
 public:
  explicit DebugDelay(const Params& params);
  void open(const StageContext& ctx) override { ctx_ = ctx; }
  void process(const Item& in, Item& out) override;
  // Items pass unchanged.
  std::optional<RowShape> output_row_shape(const std::optional<RowShape>& input) const override {
    return input;
  }
  // The pause for the item at source position `index`, in milliseconds.
  int64_t delay_ms(uint64_t index) const;

 private:
  int64_t min_ms_ = 0, max_ms_ = 0;
  uint64_t seed_ = 0;
  StageContext ctx_;
};

}  // namespace embedflow
