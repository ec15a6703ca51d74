#include "stages/io/source_npy.h"

#include <cstring>
#include <filesystem>

#include "embedflow/npy.h"

namespace fs = std::filesystem;

namespace embedflow {

StageSchema source_npy_schema() {
  StageSchema s;
  s.type = "source.npy";
  s.kind = StageKind::Source;
  s.summary = "Rows of a stacked .npy as items (ids from its write.npy sidecar)";
  s.doc =
      "Row i becomes an item whose id, source and meta come from line i of the sidecar "
      "`<stem>.jsonl` that write.npy writes (`{\"row\": i, \"id\": …}`); without a sidecar the "
      "ids are `row-<i>`. Rows of shape [D] are embeddings, others tensors. The array is read "
      "into memory once (a second job over merged outputs, e.g. score.cosine all-vs-all, needs "
      "every row anyway).";
  s.output = Kind::Embedding;
  s.output_for = [](const Params&) { return Kind::Embedding; };
  s.params = {
      ParamSpec::input_path("path").require().describe("The .npy file ([N, ...] float32)"),
      ParamSpec::boolean("sidecar", true)
          .describe("Take ids and metadata from <stem>.jsonl beside it (an error if missing)"),
  };
  return s;
}

SourceNpy::SourceNpy(const Params& params) : params_(params), path_(params.get_string("path")) {
  if (params.get_bool("sidecar")) sidecar_ = fs::path(path_).replace_extension(".jsonl").string();
}

void SourceNpy::open(const StageContext& ctx) {
  (void)ctx;
  try {
    rows_ = read_npy(path_);
  } catch (const std::exception& e) {
    throw params_.error("path", e.what());
  }
  if (rows_.ndim() < 1 || rows_.dtype() != DType::F32)
    throw params_.error("path", path_ + ": expected a float32 array of rows, got " +
                                    rows_.shape_str() + " " + dtype_name(rows_.dtype()));
  if (!sidecar_.empty()) {
    ids_.open(sidecar_);
    if (!ids_)
      throw params_.error(
          "sidecar",
          "cannot read " + sidecar_ + " (the ids of the rows); set sidecar: false for row-<i> ids");
  }
}

std::optional<RowShape> SourceNpy::output_row_shape(const std::optional<RowShape>& input) const {
  (void)input;
  if (!rows_.defined()) return std::nullopt;
  return RowShape{std::vector<int64_t>(rows_.shape().begin() + 1, rows_.shape().end()), DType::F32};
}

std::optional<uint64_t> SourceNpy::size_hint() const {
  return rows_.defined() ? std::optional<uint64_t>(static_cast<uint64_t>(rows_.dim(0)))
                         : std::nullopt;
}

bool SourceNpy::next(Item& item) {
  if (row_ >= rows_.dim(0)) return false;
  std::vector<int64_t> shape(rows_.shape().begin() + 1, rows_.shape().end());
  Tensor row(DType::F32, shape);
  std::memcpy(row.raw_mut(), rows_.data<float>() + row_ * row.numel(), row.nbytes());
  item.kind = shape.size() == 1 ? Kind::Embedding : Kind::Tensor;
  item.tensor = row;
  item.id = "row-" + std::to_string(row_);
  item.source = path_ + ":" + std::to_string(row_);
  if (ids_.is_open()) {
    std::string line;
    if (!std::getline(ids_, line))
      throw std::runtime_error(sidecar_ + " has fewer lines than " + path_ + " has rows (" +
                               std::to_string(rows_.dim(0)) + ")");
    Json j = Json::parse(line);
    item.id = j.value("id", item.id);
    item.source = j.value("source", item.source);
    if (j.contains("meta")) item.meta = j["meta"];
  }
  ++row_;
  return true;
}

}  // namespace embedflow
