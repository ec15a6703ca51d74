// text.stats: cheap counts for looking over a corpus before embedding it.
#pragma once

#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema text_stats_schema();

class TextStats : public ItemStage {
 public:
  explicit TextStats(const Params& params);
  void process(const Item& in, Item& out) override;
};

}  // namespace embedflow
