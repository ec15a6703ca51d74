// write.npy: tensors to NumPy files — one stacked [N, ...] array, or one file per item — with a
// JSON Lines sidecar saying which item each row is.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "embedflow/atomic_file.h"
#include "embedflow/npy.h"
#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema write_npy_schema();

class WriteNpy : public SinkStage {
 public:
  explicit WriteNpy(const Params& params);
  void open(const StageContext& ctx) override;
  void write(const Item& item) override;
  void finish(bool complete) override;
  void expect_row_shape(const RowShape& row) override;
  std::vector<std::string> outputs() const override { return outputs_; }

 private:
  Tensor payload(const Item& item) const;         // checked, converted to the output dtype
  std::string file_name(const Item& item) const;  // per_item: relative to dir_
  void write_index_line(const Item& item, const std::string& file);

  Params params_;
  bool per_item_ = false;
  bool to_float_ = true;
  std::string path_;        // stacked output
  std::string dir_, name_;  // per_item output
  std::string index_path_;  // sidecar ("" = none)
  std::unique_ptr<NpyStreamWriter> npy_;
  std::unique_ptr<AtomicFile> index_;
  std::set<std::string> names_;  // per_item: files written, so two items never share one
  uint64_t rows_ = 0;
  bool finished_ = false;
  std::vector<std::string> outputs_;
};

}  // namespace embedflow
