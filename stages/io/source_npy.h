// source.npy: the rows of a stacked .npy (e.g. merged embeddings) as items again, ids from its
// sidecar — the start of a second job over outputs, such as an all-vs-all similarity.
#pragma once

#include <fstream>
#include <optional>

#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema source_npy_schema();

class SourceNpy : public SourceStage {
 public:
  explicit SourceNpy(const Params& params);
  void open(const StageContext& ctx) override;
  bool next(Item& item) override;
  std::optional<uint64_t> size_hint() const override;
  std::optional<RowShape> output_row_shape(const std::optional<RowShape>& input) const override;

 private:
  Params params_;
  std::string path_, sidecar_;
  Tensor rows_;
  std::ifstream ids_;
  int64_t row_ = 0;
};

}  // namespace embedflow
