// search.index: each query embedding against a vector index written by write.index; a record
// with the query and its k best rows, labelled from the index's sidecar. The class runs in
// libembedflow_vector_index.so (FAISS); its schema does not.
#pragma once

#include <string>
#include <vector>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "stages/index/vector_index.h"

namespace embedflow {

StageSchema search_index_schema();

class SearchIndex : public ItemStage {
 public:
  explicit SearchIndex(const Params& params);
  void open(const StageContext& ctx) override;
  void process(const Item& in, Item& out) override;
  std::string description() const override;

 private:
  Params params_;
  std::string path_;
  int64_t k_ = 10, ef_search_ = 0, nprobe_ = 0;
  bool exclude_self_ = false;
  vindex::VectorIndex index_;
  std::vector<vindex::Label> labels_;
};

}  // namespace embedflow
