#include "stages/index/write_index.h"

#include <cmath>
#include <filesystem>
#include <thread>

#include "embedflow/errors.h"
#include "embedflow/hash.h"
#include "stages/io/item_json.h"

namespace embedflow {

WriteIndex::WriteIndex(const Params& params) : params_(params), stage_id_(params.stage_id()) {
  path_ = params.get_string("path");
  if (path_.empty()) throw params.error("path", "path is empty: name the index file to write");
  labels_path_ = index_labels_path(path_);
  options_.kind = params.get_string("kind");
  options_.normalize = params.get_bool("normalize");
  options_.m = params.get_int("m");
  options_.ef_construction = params.get_int("ef_construction");
  options_.ef_search = params.get_int("ef_search");
  options_.nlist = params.get_int("nlist");
  options_.nprobe = params.get_int("nprobe");
  const auto threads = static_cast<int>(params.get_int("threads"));
  options_.threads =
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void WriteIndex::open(const StageContext& ctx) {
  if (!ctx.stage_id.empty()) stage_id_ = ctx.stage_id;
  try {
    labels_ = std::make_unique<AtomicFile>(labels_path_);
  } catch (const std::exception& e) {
    throw params_.error("path", e.what());
  }
}

void WriteIndex::fail_run(const std::string& message) {
  // Nothing is committed: the temporaries go with the AtomicFiles, no index is left behind.
  failed_ = true;
  rows_.clear();
  rows_.shrink_to_fit();
  if (labels_) labels_->discard();
  throw RunFailure("write.index: " + message + "; no index was written");
}

void WriteIndex::write(const Item& item) {
  if (failed_ || finished_) return;
  const Tensor& t = item.tensor;
  if (!t.defined() || t.dtype() != DType::F32 || t.ndim() != 1)
    fail_run("item '" + item.id + "' is " + kind_name(item.kind) + " " +
             (t.defined() ? std::string(dtype_name(t.dtype())) + " " + t.shape_str()
                          : std::string("without a tensor")) +
             ", not an embedding f32 [D]");
  const int64_t d = t.dim(0);
  if (count_ == 0) {
    if (d == 0) fail_run("item '" + item.id + "' is an empty embedding [0]");
    dim_ = d;
    first_id_ = item.id;
  } else if (d != dim_) {
    fail_run("item '" + item.id + "' (" + item.source + ") is " + std::to_string(d) +
             "-d but the first item, '" + first_id_ + "', was " + std::to_string(dim_) +
             "-d: one index holds one embedding space. Index each model's embeddings with a "
             "write.index of its own");
  }
  const float* p = t.data<float>();
  for (int64_t c = 0; c < d; ++c)
    if (!std::isfinite(p[c]))
      fail_run("item '" + item.id + "' (" + item.source + ") has a " +
               (std::isnan(p[c]) ? "NaN" : "infinite") + " value at position " + std::to_string(c) +
               ", which no index can rank; find why its encoder produced it (an empty or "
               "broken input) and filter it out");
  rows_.insert(rows_.end(), p, p + d);
  std::string line = "{\"row\":" + std::to_string(count_) + ",\"id\":" + io::json_text(item.id) +
                     ",\"source\":" + io::json_text(item.source);
  if (!item.text.empty()) line += ",\"text\":" + io::json_text(item.text);
  labels_->write(line + "}\n");
  ++count_;
}

void WriteIndex::finish(bool complete) {
  if (finished_ || failed_) return;
  finished_ = true;
  if (count_ == 0) {
    if (!complete) return;  // stopped before the first embedding: there is nothing to commit
    fail_run(
        "no embeddings arrived (the input was empty, or every item failed upstream: "
        "see errors.jsonl)");
  }
  vindex::VectorIndex index;
  try {
    index = vindex::VectorIndex::build(options_, rows_, dim_);
  } catch (const std::invalid_argument& e) {
    fail_run(e.what());
  } catch (const std::exception& e) {
    fail_run(std::string("building the index failed: ") + e.what());
  }
  rows_.clear();
  rows_.shrink_to_fit();
  AtomicFile out(path_);
  const std::string labels = labels_->commit(complete);
  index.save([&out](const void* data, size_t n) { out.write(data, n); },
             std::filesystem::path(labels).filename().string(), sha256_file(labels));
  outputs_.push_back(out.commit(complete));
  outputs_.push_back(labels);
}

}  // namespace embedflow
