// write.jsonl: one JSON object per item — identity, metadata and the payload.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "embedflow/atomic_file.h"
#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema write_jsonl_schema();

class WriteJsonl : public SinkStage {
 public:
  explicit WriteJsonl(const Params& params);
  void open(const StageContext& ctx) override;
  void write(const Item& item) override;
  void finish(bool complete) override;
  std::vector<std::string> outputs() const override { return outputs_; }

 private:
  Params params_;
  std::string path_;
  bool include_tensor_ = false;
  bool flatten_ = false;
  std::unique_ptr<AtomicFile> file_;
  uint64_t lines_ = 0;  // items written
  std::vector<std::string> outputs_;
};

}  // namespace embedflow
