#include "stages/io/write_csv.h"

#include <algorithm>
#include <stdexcept>

#include "stages/io/item_json.h"

namespace embedflow {

StageSchema write_csv_schema() {
  StageSchema s;
  s.type = "write.csv";
  s.kind = StageKind::Sink;
  s.summary = "Writes items as rows of a CSV table (RFC 4180 quoting), in source order";
  s.doc =
      "Columns come from `columns`; by default `id`, `source`, `text` for text items, then the "
      "first item's record keys (sorted) — later items' extra keys are not added, missing ones "
      "are left empty. A column name is looked up as: `id`, `source`, `kind`; a record field; "
      "`text`; a metadata field (`meta.<key>` or just `<key>`). Strings are written as they "
      "are, numbers in their shortest exact form, true/false, null as an empty field, lists "
      "and objects as JSON. Fields are quoted only when needed and quotes doubled, exactly as "
      "Python's `csv.writer` does; rows end in CRLF as RFC 4180 says (`line_terminator: lf` "
      "for Unix tools). The file is written atomically and committed also when the run is "
      "cancelled.";
  s.inputs = {{"in", {}, "Items of any kind (usually records)"}};
  s.output = Kind::None;
  s.default_concurrency = 1;
  s.max_concurrency = 1;
  s.params = {
      ParamSpec::output_file("path").require().describe("Output .csv file"),
      ParamSpec::strings("columns").describe(
          "Column names in order; default: id, source (text) and the first item's record keys"),
      ParamSpec::enumeration("delimiter", ",", {",", ";", "|", "tab"}).describe("Field separator"),
      ParamSpec::enumeration("line_terminator", "crlf", {"crlf", "lf"})
          .describe("Row ending: crlf (RFC 4180, Python's default) or lf"),
  };
  return s;
}

std::string csv_field(const std::string& value, char delimiter) {
  if (value.find_first_of(std::string("\"\r\n") + delimiter) == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

WriteCsv::WriteCsv(const Params& params) : params_(params) {
  path_ = params.get_string("path");
  std::string d = params.get_string("delimiter");
  delimiter_ = d == "tab" ? '\t' : d[0];
  line_end_ = params.get_string("line_terminator") == "lf" ? "\n" : "\r\n";
  if (params.has("columns")) {
    columns_ = params.get_strings("columns");
    if (columns_.empty()) throw params.error("columns", "columns is empty");
  }
}

void WriteCsv::open(const StageContext& ctx) {
  (void)ctx;
  try {
    file_ = std::make_unique<AtomicFile>(path_);
  } catch (const std::exception& e) {
    throw params_.error("path", e.what());
  }
}

static std::string cell_text(const Json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return io::json_text(v);  // numbers, booleans, lists and objects
}

std::string WriteCsv::cell(const Item& item, const std::string& column) const {
  if (column == "id") return item.id;
  if (column == "source") return item.source;
  if (column == "kind") return kind_name(item.kind);
  if (item.record.is_object()) {
    auto it = item.record.find(column);
    if (it != item.record.end()) return cell_text(*it);
  }
  if (column == "text") return item.text;
  std::string key = column.compare(0, 5, "meta.") == 0 ? column.substr(5) : column;
  auto it = item.meta.find(key);
  return it != item.meta.end() ? cell_text(*it) : "";
}

void WriteCsv::write_row(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i) line += delimiter_;
    line += csv_field(cells[i], delimiter_);
  }
  // A lone empty field would read back as a blank line, which readers skip.
  if (cells.size() == 1 && cells[0].empty()) line = "\"\"";
  file_->write(line + line_end_);
}

void WriteCsv::write(const Item& item) {
  if (!file_) throw std::logic_error("write.csv: write before open or after finish");
  if (!header_written_) {
    if (columns_.empty()) {
      columns_ = {"id", "source"};
      if (item.kind == Kind::Text) columns_.push_back("text");
      if (item.record.is_object())
        for (auto it = item.record.begin(); it != item.record.end(); ++it)
          if (std::find(columns_.begin(), columns_.end(), it.key()) == columns_.end())
            columns_.push_back(it.key());
    }
    write_row(columns_);
    header_written_ = true;
  }
  std::vector<std::string> cells;
  cells.reserve(columns_.size());
  for (const auto& c : columns_) cells.push_back(cell(item, c));
  write_row(cells);
  ++rows_;
}

void WriteCsv::finish(bool complete) {
  (void)complete;  // a partial run's rows are as valid as a full one's
  if (!file_) return;
  if (!header_written_)
    write_row(columns_.empty() ? std::vector<std::string>{"id", "source"} : columns_);
  // A partial run's rows are valid, but they never replace a complete earlier file.
  outputs_.push_back(file_->commit(complete && rows_ > 0));
  file_.reset();
}

}  // namespace embedflow
