// write.index: embeddings to a FAISS vector index file (flat, HNSW or IVF) with a labels
// sidecar mapping its rows to the items (id, source, text), for search.index and
// `embedflow search`. The class runs in libembedflow_vector_index.so (FAISS); its schema does not.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "embedflow/atomic_file.h"
#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "stages/index/vector_index.h"

namespace embedflow {

StageSchema write_index_schema();

// `path` with its extension replaced by .jsonl (or .jsonl appended): the labels sidecar.
std::string index_labels_path(const std::string& index_path);

class WriteIndex : public SinkStage {
 public:
  explicit WriteIndex(const Params& params);
  void open(const StageContext& ctx) override;
  void write(const Item& item) override;
  void finish(bool complete) override;
  std::vector<std::string> outputs() const override { return outputs_; }

 private:
  [[noreturn]] void fail_run(const std::string& message);

  Params params_;
  std::string stage_id_;
  std::string path_, labels_path_;
  vindex::BuildOptions options_;
  std::unique_ptr<AtomicFile> labels_;
  std::vector<float> rows_;  // count × dim_, in source order
  int64_t dim_ = 0, count_ = 0;
  std::string first_id_;  // the item that set the width, for the error naming a change
  bool failed_ = false, finished_ = false;
  std::vector<std::string> outputs_;
};

}  // namespace embedflow
