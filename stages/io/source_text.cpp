#include "stages/io/source_text.h"

#include <algorithm>
#include <stdexcept>

#include <sys/stat.h>

namespace embedflow {

StageSchema source_text_schema() {
  StageSchema s;
  s.type = "source.text";
  s.kind = StageKind::Source;
  s.output = Kind::Text;
  s.summary = "Texts to embed: inline, one per line of a file, or a manifest column";
  s.doc =
      "Give exactly one of `items`, `file` or `manifest`.\n\n"
      "- `items`: a list of strings in the pipeline file; ids \"0\", \"1\", …; source "
      "`inline`.\n"
      "- `file`: one item per line (\"\\n\" or \"\\r\\n\"; a UTF-8 byte order mark is dropped). "
      "The id is the 0-based line index (\"0\" is the first line, also when `skip_empty` skips "
      "some), the source `<file>:<line>`.\n"
      "- `manifest`: JSON Lines or CSV/TSV; the text is in column `field`, the id in "
      "`id_field` (else the 1-based line number); other columns go to `meta`.\n\n"
      "Files are streamed, never held whole. A line that is not valid UTF-8 becomes a failed "
      "item (it shows up in errors.jsonl) and the run goes on. Manifests are checked when the "
      "run opens: unreadable records, missing text fields and duplicate ids are all reported "
      "then, with their line numbers.";
  s.params = {
      ParamSpec::strings("items").describe("Inline texts, one item each"),
      ParamSpec::input_path("file").describe(
          "A UTF-8 text file, one item per line; `-` reads standard input (once, streamed)"),
      ParamSpec::input_path("manifest").describe("A .jsonl, .csv or .tsv file with a text column"),
      ParamSpec::boolean("skip_empty", false)
          .describe("file: skip lines that are empty or only spaces and tabs"),
      ParamSpec::string("field", "text").describe("manifest: the column holding the text"),
      ParamSpec::integer("limit", 0)
          .range(0, std::nullopt)
          .describe("Stop after this many texts (the first in order); 0 = all"),
      ParamSpec::string("id_field", "id")
          .describe("manifest: the column holding ids; without it, ids are line numbers"),
      ParamSpec::integer("max_line_bytes", 1 << 20)
          .range(1, std::nullopt)
          .describe("file: a longer line is not read into memory; it becomes a failed item "
                    "(in errors.jsonl) and the run goes on with the next line"),
  };
  return s;
}

namespace {

bool blank(const std::string& s) {
  return s.find_first_not_of(" \t") == std::string::npos;
}

}  // namespace

SourceText::SourceText(const Params& params) : params_(params), stage_id_(params.stage_id()) {
  int modes = 0;
  for (const char* key : {"items", "file", "manifest"}) {
    if (!params.has(key)) continue;
    ++modes;
    key_ = key;
  }
  if (modes != 1)
    throw params.error(modes ? key_ : "",
                       modes ? "give only one of items, file or manifest"
                             : "give one of items, file or manifest to say which texts to read");
  limit_ = static_cast<uint64_t>(params.get_int("limit"));
  mode_ = key_ == "items" ? Mode::Inline : key_ == "file" ? Mode::File : Mode::Manifest;
  if (mode_ == Mode::Inline) {
    inline_ = params.get_strings("items");
    if (inline_.empty()) throw params.error("items", "items is empty: give at least one text");
    if (limit_ > 0 && inline_.size() > limit_) inline_.resize(limit_);
    count_ = inline_.size();
  } else {
    path_ = params.get_string(key_);
    if (path_.empty()) throw params.error(key_, key_ + " is empty");
  }
  skip_empty_ = params.get_bool("skip_empty");
  max_line_bytes_ = static_cast<uint64_t>(params.get_int("max_line_bytes"));
  field_ = params.get_string("field");
  id_field_ = params.get_string("id_field");
}

void SourceText::open(const StageContext& ctx) {
  if (!ctx.stage_id.empty()) stage_id_ = ctx.stage_id;
  if (mode_ == Mode::File)
    count_lines();
  else if (mode_ == Mode::Manifest)
    scan_manifest();
}

void SourceText::fail(Item& item, const std::string& message) const {
  item.error = std::make_shared<ItemError>(ItemError{stage_id_, message});
}

void SourceText::count_lines() {
  // `-` is standard input. A pipe, FIFO or terminal can be read only once, so only a regular
  // file is counted first (for progress and ETA); anything else streams without a total.
  const std::string path = path_ == "-" ? "/dev/stdin" : path_;
  auto open_file = [&] {
    try {
      lines_ = std::make_unique<io::LineReader>(path, max_line_bytes_);
    } catch (const std::runtime_error& e) {
      throw params_.error("file", e.what());
    }
  };
  struct stat st {};
  const bool regular = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  open_file();
  if (!regular) return;
  uint64_t count = 0;
  for (std::string line; (limit_ == 0 || count < limit_) && lines_->next(line);)
    if (!skip_empty_ || lines_->too_long() || !blank(line)) ++count;
  count_ = count;
  open_file();
}

bool SourceText::next_record(Item& item, uint64_t& line, std::string& problem) {
  problem.clear();
  io::ManifestRecord rec;
  if (!manifest_->next(rec)) return false;
  line = rec.line;
  item.kind = Kind::Text;
  item.id = std::to_string(rec.line);
  item.source = path_ + ":" + std::to_string(rec.line);
  if (rec.bad_utf8) {
    fail(item, item.source + ": " + rec.error);
    return true;
  }
  if (!rec.error.empty()) {
    problem = rec.error;
    return true;
  }
  auto tit = rec.fields.find(field_);
  if (tit == rec.fields.end() || !tit->is_string()) {
    problem = tit == rec.fields.end()
                  ? "no '" + field_ + "' field" +
                        (field_ == "text" ? " (set field to the key holding the text)" : "")
                  : "'" + field_ + "' must be a string, found " + tit->dump();
    return true;
  }
  item.text = tit->get<std::string>();
  auto iit = rec.fields.find(id_field_);
  if (iit != rec.fields.end() && !iit->is_null() &&
      (!io::manifest_string(*iit, item.id) || item.id.empty())) {
    problem = "'" + id_field_ + "' must be a non-empty string or an integer, found " + iit->dump();
    return true;
  }
  for (auto it = rec.fields.begin(); it != rec.fields.end(); ++it)
    if (it.key() != field_ && it.key() != id_field_) item.meta[it.key()] = it.value();
  return true;
}

void SourceText::scan_manifest() {
  auto open_manifest = [&] {
    try {
      manifest_ = std::make_unique<io::ManifestReader>(path_);
    } catch (const std::runtime_error& e) {
      throw params_.error("manifest", e.what());
    }
    const auto& cols = manifest_->columns();
    if (!cols.empty() && std::find(cols.begin(), cols.end(), field_) == cols.end()) {
      std::string names;
      for (size_t i = 0; i < cols.size(); ++i) names += (i ? ", " : "") + cols[i];
      throw params_.error("manifest", path_ + " has no '" + field_ + "' column (columns: " + names +
                                          "); set field to the one holding the text");
    }
  };
  open_manifest();
  std::vector<std::string> problems;
  io::DuplicateIdFinder ids;
  uint64_t count = 0, line = 0;
  std::string problem;
  for (Item item; (limit_ == 0 || count < limit_) && next_record(item, line, problem);
       item = Item{}) {
    if (!problem.empty()) {
      problems.push_back(path_ + ":" + std::to_string(line) + ": " + problem);
      continue;
    }
    ids.add(item.id, line);
    ++count;
  }
  std::vector<uint64_t> suspects = ids.suspects();
  if (!suspects.empty()) {
    open_manifest();
    std::vector<std::pair<uint64_t, std::string>> suspect_ids;
    size_t k = 0;
    for (Item item; k < suspects.size() && next_record(item, line, problem); item = Item{}) {
      if (line != suspects[k]) continue;
      suspect_ids.emplace_back(line, item.id);
      ++k;
    }
    for (const auto& d : ids.confirm(suspect_ids))
      problems.push_back(path_ + ":" + std::to_string(d.line) + ": duplicate id '" + d.id +
                         "' (first on line " + std::to_string(d.first_line) + ")");
  }
  if (!problems.empty()) throw io::problems_error(params_, "manifest", problems);
  count_ = count;
  open_manifest();
}

bool SourceText::next(Item& item) {
  if ((count_ && emitted_ >= *count_) || (limit_ > 0 && emitted_ >= limit_)) return false;
  std::string text;
  switch (mode_) {
    case Mode::Inline:
      if (inline_next_ >= inline_.size()) return false;
      item.id = std::to_string(inline_next_);
      item.source = "inline";
      text = std::move(inline_[inline_next_++]);
      break;
    case Mode::File:
      for (;;) {
        if (!lines_->next(text)) return false;
        if (!skip_empty_ || lines_->too_long() || !blank(text)) break;
      }
      item.id = std::to_string(lines_->line_number() - 1);
      item.source = (path_ == "-" ? std::string("<stdin>") : path_) + ":" +
                    std::to_string(lines_->line_number());
      if (lines_->too_long()) {
        item.kind = Kind::Text;
        ++emitted_;
        fail(item, item.source + ": the line is " + std::to_string(lines_->length()) +
                       " bytes, more than max_line_bytes (" + std::to_string(max_line_bytes_) +
                       "); it was skipped. Split it into several lines, or raise "
                       "max_line_bytes if it really is one text");
        return true;
      }
      break;
    case Mode::Manifest: {
      uint64_t line = 0;
      std::string problem;
      if (!next_record(item, line, problem)) return false;
      if (!problem.empty())  // the file changed since open() checked it
        throw std::runtime_error(path_ + ":" + std::to_string(line) + ": " + problem);
      text = std::move(item.text);
      break;
    }
  }
  item.kind = Kind::Text;
  ++emitted_;
  if (item.failed()) return true;
  size_t bad = io::invalid_utf8_offset(text);
  if (bad != std::string::npos) {
    fail(item, item.source + ": not valid UTF-8 (byte " + std::to_string(bad) +
                   "); re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)");
    return true;
  }
  item.text = std::move(text);
  return true;
}

}  // namespace embedflow
