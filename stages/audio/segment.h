// audio.segment: one recording → fixed-length windows, each its own item (parent_id, segment,
// start/end seconds in meta), so long files embed as a sequence and aggregate.mean can pool
// them back to one vector per file.
#pragma once

#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema segment_schema();

class SegmentStage : public GroupStage {
 public:
  explicit SegmentStage(const Params& params);
  void process(const std::vector<ItemPtr>& in, std::vector<Item>& out) override;

 private:
  double window_s_, hop_s_, min_s_;
  bool pad_last_;
};

}  // namespace embedflow
