#include "stages/io/write_jsonl.h"

#include <set>
#include <stdexcept>

#include "stages/io/item_json.h"

namespace embedflow {

StageSchema write_jsonl_schema() {
  StageSchema s;
  s.type = "write.jsonl";
  s.kind = StageKind::Sink;
  s.summary = "Writes one JSON object per item (JSON Lines), in source order";
  s.doc =
      "Each line has `id`, `source`, `kind` and `meta`, then the payload by kind: records under "
      "`record` (or merged into the line with `flatten: true`; a record key that clashes with "
      "one of the line's own keys is written as `record.<key>`), text under `text`, tensors as "
      "`shape` and `dtype` (plus `sample_rate` for audio) and, with `include_tensor: true`, "
      "their values flattened in C order under `tensor` "
      "(`numpy.array(o[\"tensor\"]).reshape(o[\"shape\"])`). Floats are written in their "
      "shortest exact form; NaN and infinities as null. The file is written atomically and "
      "committed also when the run is cancelled.";
  s.inputs = {{"in", {}, "Items of any kind"}};
  s.output = Kind::None;
  s.default_concurrency = 1;
  s.max_concurrency = 1;
  s.params = {
      ParamSpec::output_file("path").require().describe("Output .jsonl file"),
      ParamSpec::boolean("include_tensor", false)
          .describe("Write tensor values (large: a 768-d embedding is ~8 KB of text per line)"),
      ParamSpec::boolean("flatten", false).describe("Merge record fields into the line itself"),
  };
  return s;
}

WriteJsonl::WriteJsonl(const Params& params) : params_(params) {
  path_ = params.get_string("path");
  include_tensor_ = params.get_bool("include_tensor");
  flatten_ = params.get_bool("flatten");
}

void WriteJsonl::open(const StageContext& ctx) {
  (void)ctx;
  try {
    file_ = std::make_unique<AtomicFile>(path_);
  } catch (const std::exception& e) {
    throw params_.error("path", e.what());
  }
}

void WriteJsonl::write(const Item& item) {
  if (!file_) throw std::logic_error("write.jsonl: write before open or after finish");
  std::set<std::string> keys = {"id", "source", "kind", "meta"};
  std::string line = "{\"id\":" + io::json_text(item.id) +
                     ",\"source\":" + io::json_text(item.source) + ",\"kind\":\"" +
                     kind_name(item.kind) + "\"";
  auto add = [&](const std::string& key, const std::string& json) {
    line += "," + io::json_text(key) + ":" + json;
    keys.insert(key);
  };
  if (!item.text.empty() || item.kind == Kind::Text) add("text", io::json_text(item.text));
  if (item.tensor.defined()) {
    add("shape", io::shape_json(item.tensor));
    add("dtype", std::string("\"") + dtype_name(item.tensor.dtype()) + "\"");
    if (item.sample_rate > 0) add("sample_rate", std::to_string(item.sample_rate));
    if (include_tensor_) {
      std::string values;
      io::append_values(values, item.tensor);
      add("tensor", values);
    }
  }
  if (!item.record.is_null()) {
    if (flatten_ && item.record.is_object()) {
      for (auto it = item.record.begin(); it != item.record.end(); ++it) {
        std::string key = keys.count(it.key()) ? "record." + it.key() : it.key();
        add(key, io::json_text(it.value()));
      }
    } else {
      add("record", io::json_text(item.record));
    }
  }
  line += ",\"meta\":" + io::json_text(item.meta) + "}\n";
  file_->write(line);
  ++lines_;
}

void WriteJsonl::finish(bool complete) {
  if (!file_) return;
  // A partial run's lines are valid, but they never replace a complete earlier file.
  outputs_.push_back(file_->commit(complete && lines_ > 0));
  file_.reset();
}

}  // namespace embedflow
