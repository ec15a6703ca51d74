#include "stages/io/write_npy.h"

#include <filesystem>
#include <stdexcept>

#include "embedflow/errors.h"
#include "embedflow/safe_path.h"
#include "stages/io/item_json.h"

namespace fs = std::filesystem;

namespace embedflow {

StageSchema write_npy_schema() {
  StageSchema s;
  s.type = "write.npy";
  s.kind = StageKind::Sink;
  s.summary = "Writes tensors as NumPy .npy: rows stacked into one [N, ...] array, or a file each";
  s.doc =
      "Stacked (default): row i of `path` is the i-th item in source order, so "
      "`numpy.load(path)` is what `model.encode(list)` returns in Python. The sidecar "
      "`<stem>.jsonl` beside it has one line per row: `{\"row\": i, \"id\": …, \"source\": …, "
      "\"meta\": {…}}`. All rows must have one shape: an item of another shape is rejected "
      "(it becomes an error record saying so; the other rows go on) — use `per_item: true` for "
      "variable-length outputs such as audio or spectrograms.\n\n"
      "`per_item: true`: one .npy per item under `dir`, named by `name` (`{id}` and `{index}` "
      "are replaced; a `/` in an id makes sub-folders, `..` and leading `/` are neutralised), "
      "with the sidecar `index.jsonl` in `dir` (each line also has `file`).\n\n"
      "Files are written atomically: they appear whole at the end of the run. A cancelled or "
      "failed run still commits the rows written so far as valid files. With no rows at all, "
      "the array has the row shape the stage upstream declares (an encoder's `[0, D]`), else "
      "`(0,)`.";
  s.inputs = {{"in",
               {Kind::Audio, Kind::Spectrogram, Kind::Image, Kind::ImageTensor, Kind::Embedding,
                Kind::Tensor},
               "Items with a tensor payload"}};
  s.output = Kind::None;
  s.default_concurrency = 1;
  s.max_concurrency = 1;
  s.params = {
      ParamSpec::output_file("path").describe("Output .npy (stacked mode)"),
      ParamSpec::boolean("per_item", false).describe("Write one .npy per item under `dir`"),
      ParamSpec::output_dir("dir").describe("per_item: output folder"),
      ParamSpec::string("name", "{id}.npy")
          .describe("per_item: file name under `dir`; {id} = item id, {index} = source position"),
      ParamSpec::boolean("sidecar", true)
          .describe("Also write the JSON Lines index of ids and metadata (<stem>.jsonl, or "
                    "index.jsonl in per_item mode)"),
      ParamSpec::enumeration("dtype", "float32", {"float32", "keep"})
          .describe("float32: convert uint8/int64 payloads (values kept, not rescaled); keep: "
                    "write the payload's own dtype"),
  };
  return s;
}

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

WriteNpy::WriteNpy(const Params& params) : params_(params) {
  per_item_ = params.get_bool("per_item");
  to_float_ = params.get_string("dtype") == "float32";
  bool sidecar = params.get_bool("sidecar");
  if (per_item_) {
    if (!params.has("dir"))
      throw params.error("per_item", "per_item: true needs `dir`, the output folder");
    if (params.has("path"))
      throw params.error("path", "per_item: true writes under `dir`; remove `path`");
    dir_ = params.get_string("dir");
    name_ = params.get_string("name");
    if (name_.find("{id}") == std::string::npos && name_.find("{index}") == std::string::npos)
      throw params.error("name", "name '" + name_ +
                                     "' has neither {id} nor {index}, so every item "
                                     "would write the same file");
    std::string rest = name_;
    for (const char* ph : {"{id}", "{index}"})
      for (size_t at; (at = rest.find(ph)) != std::string::npos;)
        rest.erase(at, std::string(ph).size());
    if (rest.find_first_of("{}") != std::string::npos)
      throw params.error("name", "name '" + name_ + "': only {id} and {index} can be replaced");
    if (name_[0] == '/' || safe_relative_path(name_) != name_)
      throw params.error("name", "name '" + name_ +
                                     "' must be a plain relative path under dir "
                                     "(no leading '/', '.' or '..' parts)");
    if (sidecar) index_path_ = (fs::path(dir_) / "index.jsonl").string();
  } else {
    if (!params.has("path"))
      throw params.error("path", "give `path` (one stacked .npy) or set per_item: true with `dir`");
    if (params.has("dir"))
      throw params.error("dir", "`dir` is for per_item: true; remove it or set per_item");
    path_ = params.get_string("path");
    if (sidecar) {
      index_path_ = fs::path(path_).replace_extension(".jsonl").string();
      if (index_path_ == path_) index_path_ += ".jsonl";
    }
  }
}

void WriteNpy::open(const StageContext& ctx) {
  (void)ctx;
  try {
    if (!per_item_)
      npy_ = std::make_unique<NpyStreamWriter>(path_);
    else
      fs::create_directories(dir_);
    if (!index_path_.empty()) index_ = std::make_unique<AtomicFile>(index_path_);
  } catch (const std::exception& e) {
    throw params_.error(per_item_ ? "dir" : "path", e.what());
  }
}

Tensor WriteNpy::payload(const Item& item) const {
  if (!item.tensor.defined())
    throw ItemFailure("write.npy: item '" + item.id + "' (" + kind_name(item.kind) +
                      ") has no tensor to write");
  const Tensor& t = item.tensor;
  if (!to_float_ || t.dtype() == DType::F32) return t;
  Tensor f(DType::F32, t.shape());
  float* dst = f.data<float>();
  int64_t n = t.numel();
  if (t.dtype() == DType::U8)
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(t.data<uint8_t>()[i]);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(t.data<int64_t>()[i]);
  return f;
}

std::string WriteNpy::file_name(const Item& item) const {
  std::string name = name_;
  auto replace_all = [&](const std::string& ph, const std::string& value) {
    for (size_t at = 0; (at = name.find(ph, at)) != std::string::npos; at += value.size())
      name.replace(at, ph.size(), value);
  };
  replace_all("{index}", std::to_string(item.index));
  replace_all("{id}", safe_relative_path(item.id));
  std::string safe = safe_relative_path(name);
  if (safe.empty())
    throw ItemFailure("write.npy: item id '" + item.id + "' gives an empty file name");
  return safe;
}

void WriteNpy::write_index_line(const Item& item, const std::string& file) {
  if (!index_) return;
  std::string line = "{\"row\":" + std::to_string(rows_) + ",\"id\":" + io::json_text(item.id) +
                     ",\"source\":" + io::json_text(item.source);
  if (!file.empty()) line += ",\"file\":" + io::json_text(file);
  line += ",\"shape\":" + io::shape_json(item.tensor);
  if (item.sample_rate > 0) line += ",\"sample_rate\":" + std::to_string(item.sample_rate);
  line += ",\"meta\":" + io::json_text(item.meta) + "}\n";
  index_->write(line);
}

void WriteNpy::write(const Item& item) {
  if (finished_) throw std::logic_error("write.npy: write after finish");
  Tensor t = payload(item);
  std::string file;
  if (per_item_) {
    file = file_name(item);
    if (!names_.insert(file).second)
      throw ItemFailure("write.npy: item '" + item.id + "' would overwrite " + file +
                        ", written for an earlier item; put {index} in `name` to keep both");
    write_npy((fs::path(dir_) / file).string(), t);
  } else {
    try {
      npy_->append(t);
    } catch (const std::invalid_argument&) {
      throw ItemFailure("write.npy: item '" + item.id + "' has shape " + t.shape_str() + " (" +
                        dtype_name(t.dtype()) + "), but the rows already in " + path_ + " are " +
                        shape_text(npy_->row_shape()) + " (" + dtype_name(npy_->dtype()) +
                        "); one stacked .npy holds rows of one shape — set per_item: true to "
                        "write a file per item");
    }
  }
  write_index_line(item, file);
  ++rows_;
}

void WriteNpy::expect_row_shape(const RowShape& row) {
  // The dtype the rows would be written in: float32 unless `dtype: keep`.
  if (npy_) npy_->expect_row_shape(row.shape, to_float_ ? DType::F32 : row.dtype);
}

void WriteNpy::finish(bool complete) {
  if (finished_) return;
  finished_ = true;
  // Partial or not, what was written is committed as valid files; but an incomplete or empty
  // result never replaces a complete earlier one (it lands beside it as NAME.partial.npy).
  const bool whole = complete && rows_ > 0;
  if (npy_) outputs_.push_back(npy_->commit(whole));
  if (per_item_) outputs_.push_back(dir_);  // not every file: there may be millions
  if (index_) outputs_.push_back(index_->commit(whole));
}

}  // namespace embedflow
