// score.cosine: cosine similarity of query embeddings against a corpus (or all against all).
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "models/similarity.h"

namespace embedflow {

StageSchema score_cosine_schema();

class ScoreCosine : public ReduceStage {
 public:
  explicit ScoreCosine(const Params& params);
  void open(const StageContext& ctx) override;
  void consume(size_t port, const Item& item) override;
  bool next(Item& item) override;
  std::optional<uint64_t> size_hint() const override;

 private:
  struct Side {
    std::vector<float> values;  // rows × dim, in source order
    std::vector<std::string> ids;
    std::vector<std::string> labels;  // what the printed matrix names a row by (print_label)
    std::vector<Json> metas;
    int64_t dim = 0;
    int64_t rows() const { return static_cast<int64_t>(ids.size()); }
    Tensor matrix() const;
  };
  void start();         // after the inputs: build the scorer, print if asked
  void fill_pending();  // scores the next block of queries into pending_

  Params params_;
  std::string stage_id_;
  bool top_k_mode_ = false;
  int64_t k_ = 10;
  bool exclude_self_ = false;
  int64_t block_rows_ = 16384;
  bool print_ = false;
  bool print_labels_ = true;  // print_format: labelled
  Side queries_, corpus_;
  bool two_inputs_ = false;
  bool started_ = false;
  std::unique_ptr<CosineScorer> scorer_;
  int64_t next_query_ = 0;
  std::deque<Item> pending_;
};

}  // namespace embedflow
