#include "stages/io/source_files.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "embedflow/strings.h"

namespace fs = std::filesystem;

namespace embedflow {

StageSchema source_files_schema() {
  StageSchema s;
  s.type = "source.files";
  s.kind = StageKind::Source;
  s.output = Kind::File;
  s.summary = "Lists input files from a glob, a folder, a list file or a manifest";
  s.doc =
      "Give exactly one of `glob`, `dir`, `list` or `manifest`. Each item names one file "
      "(`source` is its path; nothing is read here).\n\n"
      "- `glob`: `data/**/*.wav` (`*`, `?`, `[abc]` within a name, `**` for any number of "
      "folders). Ids are paths relative to the pattern's fixed prefix (`data`).\n"
      "- `dir`: every file under a folder (`recursive`, `extensions`). Ids are paths relative "
      "to it.\n"
      "- `list`: a text file with one path per line; blank lines and `#` comments are skipped; "
      "relative paths are resolved against the list's folder, which ids are relative to.\n"
      "- `manifest`: JSON Lines (`.jsonl`) or CSV/TSV with a header; the `path` column names the "
      "file (relative to the manifest's folder), `id` its id (else the path), and every other "
      "column is carried in the item's `meta` (CSV values as strings).\n\n"
      "Order is deterministic: glob and dir sort by path (byte order); list and manifest keep "
      "the file's order. Only regular files are items (symlinks to files count; symlinked "
      "folders are not followed). Lists and manifests are checked whole when the run opens — "
      "every bad line and duplicate id is reported at once, before any model loads — then "
      "streamed; file existence is checked by the stage that reads them.";
  s.params = {
      ParamSpec::string("glob", std::nullopt)
          .describe("Files matching a pattern: `*`, `?`, `[…]` within a name, `**` for any depth"),
      ParamSpec::input_path("dir").describe("Every file under this folder"),
      ParamSpec::boolean("recursive", true).describe("dir: include files in sub-folders"),
      ParamSpec::strings("extensions")
          .describe("dir: only names ending in one of these, any case ([\".wav\", \".flac\"]); "
                    "default: every file"),
      ParamSpec::input_path("list").describe("A text file of paths, one per line"),
      ParamSpec::input_path("manifest").describe("A .jsonl, .csv or .tsv file with a path column"),
      ParamSpec::string("id_field", "id").describe("manifest: the column holding item ids"),
      ParamSpec::string("path_field", "path").describe("manifest: the column holding file paths"),
      ParamSpec::integer("limit", 0)
          .range(0, std::nullopt)
          .describe("Stop after this many files (the first in order); 0 = all"),
      ParamSpec::boolean("skip_hidden", true)
          .describe("glob/dir: skip files and folders whose name starts with '.' (a glob "
                    "segment that starts with '.' still matches them, as in Python's glob)"),
  };
  return s;
}

namespace {

bool has_wildcard(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string join_path(const std::vector<std::string>& parts) {
  return join(parts, "/");
}

// A glob pattern split at '/'. Hidden names (leading '.') match only a segment that starts with
// '.' themselves, and '**' never crosses them — as in Python's glob and the shells — unless
// hidden files are wanted.
struct GlobPattern {
  std::vector<std::string> segs;
  bool skip_hidden = true;

  bool segment_matches(const std::string& seg, const std::string& name) const {
    if (skip_hidden && name[0] == '.' && seg[0] != '.') return false;
    return ::fnmatch(seg.c_str(), name.c_str(), 0) == 0;
  }
  bool can_cross(const std::string& name) const { return !(skip_hidden && name[0] == '.'); }

  // Do path components parts[j..] match segs[i..]? ("**" spans any number of components.)
  bool match(const std::vector<std::string>& parts, size_t i = 0, size_t j = 0) const {
    if (i == segs.size()) return j == parts.size();
    if (segs[i] == "**") {
      for (size_t k = j; k <= parts.size(); ++k) {
        if (match(parts, i + 1, k)) return true;
        if (k < parts.size() && !can_cross(parts[k])) break;
      }
      return false;
    }
    return j < parts.size() && segment_matches(segs[i], parts[j]) && match(parts, i + 1, j + 1);
  }

  // Could the folder parts[j..] hold a match further down? Prunes the walk.
  bool may_descend(const std::vector<std::string>& parts, size_t i = 0, size_t j = 0) const {
    if (j == parts.size()) return i < segs.size();
    if (i == segs.size()) return false;
    if (segs[i] == "**")
      return may_descend(parts, i + 1, j) || (can_cross(parts[j]) && may_descend(parts, i, j + 1));
    return segment_matches(segs[i], parts[j]) && may_descend(parts, i + 1, j + 1);
  }
};

// Walks `root` depth-first without following symlinked folders. `descend(parts)` decides
// whether to enter a folder; `take(parts)` sees each regular file and returns false when it
// skipped it unseen (hidden). `parts` are the path components below root. Returns how many
// files were looked at.
template <class Descend, class Take>
uint64_t walk_tree(const std::string& root, const Params& params, const std::string& key,
                   Descend descend, Take take) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, ec), end;
  if (ec) throw params.error(key, "cannot list '" + root + "': " + ec.message());
  uint64_t examined = 0;
  std::vector<std::string> parts;
  while (it != end) {
    const fs::directory_entry& entry = *it;
    parts.resize(static_cast<size_t>(it.depth()));
    parts.push_back(entry.path().filename().string());
    if (entry.is_directory(ec)) {
      if (!descend(parts)) it.disable_recursion_pending();
    } else if (entry.is_regular_file(ec)) {
      if (take(parts)) ++examined;
    }
    it.increment(ec);
    if (ec)
      throw params.error(key,
                         "cannot list '" + root + "/" + join_path(parts) + "': " + ec.message());
  }
  return examined;
}

std::string strip_trailing_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string folder_of(const std::string& file) {
  fs::path parent = fs::path(file).parent_path();
  return parent.empty() ? "." : parent.generic_string();
}

}  // namespace

SourceFiles::SourceFiles(const Params& params) : params_(params) {
  int modes = 0;
  for (const char* key : {"glob", "dir", "list", "manifest"}) {
    if (!params.has(key)) continue;
    ++modes;
    key_ = key;
    value_ = params.get_string(key);
  }
  if (modes != 1)
    throw params.error(modes ? key_ : "",
                       modes
                           ? "give only one of glob, dir, list or manifest"
                           : "give one of glob, dir, list or manifest to say which files to read");
  if (value_.empty()) throw params.error(key_, key_ + " is empty");
  mode_ = key_ == "glob"   ? Mode::Glob
          : key_ == "dir"  ? Mode::Dir
          : key_ == "list" ? Mode::List
                           : Mode::Manifest;
  if (params.has("extensions") && mode_ != Mode::Dir)
    throw params.error("extensions", "extensions applies to dir; with " + key_ +
                                         (mode_ == Mode::Glob ? ", put the extension in the pattern"
                                                              : ", list only the files you want"));
  limit_ = static_cast<uint64_t>(params.get_int("limit"));
  skip_hidden_ = params.get_bool("skip_hidden");
  id_field_ = params.get_string("id_field");
  path_field_ = params.get_string("path_field");
}

void SourceFiles::open(const StageContext& ctx) {
  (void)ctx;
  switch (mode_) {
    case Mode::Glob:
      walk_glob();
      break;
    case Mode::Dir:
      walk_dir();
      break;
    case Mode::List:
    case Mode::Manifest:
      scan_entries();
      break;
  }
}

void SourceFiles::walk_glob() {
  std::vector<std::string> segs;
  size_t start = 0;
  while (start <= value_.size()) {
    size_t slash = value_.find('/', start);
    if (slash == std::string::npos) slash = value_.size();
    std::string seg = value_.substr(start, slash - start);
    if (!seg.empty() && seg != ".")
      segs.push_back(seg);
    else if (start == 0 && seg.empty())
      segs.push_back("");  // absolute pattern
    start = slash + 1;
  }
  // The fixed prefix is the folder to walk; a pattern without wildcards names one file.
  size_t first_wild = 0;
  while (first_wild < segs.size() && !has_wildcard(segs[first_wild])) ++first_wild;
  if (first_wild == segs.size()) first_wild = segs.empty() ? 0 : segs.size() - 1;
  std::vector<std::string> prefix(segs.begin(), segs.begin() + static_cast<long>(first_wild));
  GlobPattern glob{{segs.begin() + static_cast<long>(first_wild), segs.end()}, skip_hidden_};
  root_ = prefix.empty() ? "." : join_path(prefix);
  if (root_.empty()) root_ = "/";
  if (glob.segs.empty() || (glob.segs.size() == 1 && glob.segs[0].empty()))
    throw params_.error("glob", "glob '" + value_ + "' names no files");

  std::error_code ec;
  if (!fs::is_directory(root_, ec))
    throw params_.error("glob", "glob '" + value_ + "': folder '" + root_ + "' does not exist");

  uint64_t examined = walk_tree(
      root_, params_, "glob", [&](const auto& parts) { return glob.may_descend(parts); },
      [&](const auto& parts) {
        if (glob.match(parts)) relative_.push_back(join_path(parts));
        return true;
      });
  if (relative_.empty())
    throw params_.error("glob", "no files match glob '" + value_ + "' (" +
                                    std::to_string(examined) + " files looked at under '" + root_ +
                                    "')");
  sort_and_limit();
}

void SourceFiles::walk_dir() {
  root_ = strip_trailing_slashes(value_);
  std::error_code ec;
  if (!fs::exists(root_, ec)) throw params_.error("dir", "folder '" + root_ + "' does not exist");
  if (!fs::is_directory(root_, ec))
    throw params_.error("dir", "'" + root_ + "' is not a folder (use list or glob for files)");

  std::vector<std::string> extensions;
  if (params_.has("extensions"))
    for (std::string ext : params_.get_strings("extensions")) {
      if (ext.empty()) continue;
      if (ext[0] != '.') ext = "." + ext;
      extensions.push_back(lower(ext));
    }
  auto wanted = [&](const std::string& name) {
    if (extensions.empty()) return true;
    std::string l = lower(name);
    for (const auto& ext : extensions)
      if (l.size() > ext.size() && l.compare(l.size() - ext.size(), ext.size(), ext) == 0)
        return true;
    return false;
  };

  bool recursive = params_.get_bool("recursive");
  auto hidden = [&](const std::string& name) { return skip_hidden_ && name[0] == '.'; };
  uint64_t examined = walk_tree(
      root_, params_, "dir", [&](const auto& parts) { return recursive && !hidden(parts.back()); },
      [&](const auto& parts) {
        if (hidden(parts.back())) return false;
        if (wanted(parts.back())) relative_.push_back(join_path(parts));
        return true;
      });
  if (relative_.empty()) {
    std::string what = examined == 0 ? "no files in folder '" + root_ + "'"
                                     : "none of the " + std::to_string(examined) + " files in '" +
                                           root_ + "' ends in " + join(extensions, ", ");
    throw params_.error("dir", what);
  }
  sort_and_limit();
}

void SourceFiles::sort_and_limit() {
  std::sort(relative_.begin(), relative_.end());
  if (limit_ > 0 && relative_.size() > limit_) {
    relative_.resize(limit_);
    relative_.shrink_to_fit();
  }
  count_ = relative_.size();
}

void SourceFiles::resolve_entry(const std::string& written, std::string& source,
                                std::string& id) const {
  fs::path p = fs::path(written).lexically_normal();
  fs::path full =
      p.is_absolute() || base_dir_ == "." ? p : (fs::path(base_dir_) / p).lexically_normal();
  source = full.generic_string();
  // The id is the path relative to the list's folder when the entry lies inside it, else the
  // path as written (normalised).
  id = p.generic_string();
  if (p.is_absolute()) {
    fs::path rel = p.lexically_relative(base_dir_abs_);
    if (!rel.empty() && *rel.begin() != "..") id = rel.generic_string();
  }
}

bool SourceFiles::next_entry(Item& item, uint64_t& line, std::string& error) {
  error.clear();
  if (mode_ == Mode::List) {
    std::string text;
    for (;;) {
      if (!list_->next(text)) return false;
      text = trim(text);
      if (!text.empty() && text[0] != '#') break;
    }
    line = list_->line_number();
    item = Item{};
    item.kind = Kind::File;
    resolve_entry(text, item.source, item.id);
    return true;
  }
  io::ManifestRecord rec;
  if (!manifest_->next(rec)) return false;
  line = rec.line;
  item = Item{};
  item.kind = Kind::File;
  if (!rec.error.empty()) {
    error = rec.error;
    return true;
  }
  std::string path;
  auto pit = rec.fields.find(path_field_);
  if (pit == rec.fields.end() || pit->is_null()) {
    error = "no '" + path_field_ + "' field" +
            (path_field_ == "path" ? " (set path_field to the key that names the file)" : "");
    return true;
  }
  if (!io::manifest_string(*pit, path) || path.empty()) {
    error = "'" + path_field_ + "' must be a non-empty string, found " + pit->dump();
    return true;
  }
  resolve_entry(path, item.source, item.id);
  auto iit = rec.fields.find(id_field_);
  if (iit != rec.fields.end() && !iit->is_null()) {
    if (!io::manifest_string(*iit, item.id) || item.id.empty()) {
      error = "'" + id_field_ + "' must be a non-empty string or an integer, found " + iit->dump();
      return true;
    }
  }
  for (auto it = rec.fields.begin(); it != rec.fields.end(); ++it)
    if (it.key() != path_field_ && it.key() != id_field_) item.meta[it.key()] = it.value();
  return true;
}

void SourceFiles::scan_entries() {
  base_dir_ = folder_of(value_);
  std::error_code ec;
  base_dir_abs_ = fs::absolute(base_dir_, ec).lexically_normal().generic_string();
  auto reopen = [&] {
    try {
      if (mode_ == Mode::List)
        list_ = std::make_unique<io::LineReader>(value_);
      else
        manifest_ = std::make_unique<io::ManifestReader>(value_);
    } catch (const std::runtime_error& e) {
      throw params_.error(key_, e.what());
    }
    if (manifest_ && manifest_->format() != io::ManifestFormat::Jsonl) {
      const auto& cols = manifest_->columns();
      if (!cols.empty() && std::find(cols.begin(), cols.end(), path_field_) == cols.end()) {
        throw params_.error(key_, value_ + " has no '" + path_field_ +
                                      "' column (columns: " + join(cols, ", ") +
                                      "); set path_field to the one naming the files");
      }
    }
  };

  reopen();
  std::vector<std::string> problems;
  io::DuplicateIdFinder ids;
  uint64_t count = 0, line = 0;
  Item item;
  std::string error;
  while ((limit_ == 0 || count < limit_) && next_entry(item, line, error)) {
    if (!error.empty()) {
      problems.push_back(value_ + ":" + std::to_string(line) + ": " + error);
      continue;
    }
    ids.add(item.id, line);
    ++count;
  }
  std::vector<uint64_t> suspects = ids.suspects();
  if (!suspects.empty()) {
    // Second look at the lines whose id hashes collided, to name the real duplicates.
    reopen();
    std::vector<std::pair<uint64_t, std::string>> suspect_ids;
    size_t k = 0;
    while (k < suspects.size() && next_entry(item, line, error)) {
      if (line == suspects[k]) {
        suspect_ids.emplace_back(line, item.id);
        ++k;
      }
    }
    for (const auto& d : ids.confirm(suspect_ids))
      problems.push_back(value_ + ":" + std::to_string(d.line) + ": duplicate id '" + d.id +
                         "' (first on line " + std::to_string(d.first_line) + ")");
  }
  if (!problems.empty()) throw io::problems_error(params_, key_, problems);
  if (count == 0) throw params_.error(key_, value_ + " lists no files");
  count_ = count;
  reopen();
}

bool SourceFiles::next(Item& item) {
  if (mode_ == Mode::Glob || mode_ == Mode::Dir) {
    if (next_index_ >= relative_.size()) return false;
    const std::string& rel = relative_[next_index_++];
    item.kind = Kind::File;
    item.id = rel;
    item.source = root_ == "." ? rel : root_ == "/" ? "/" + rel : root_ + "/" + rel;
    return true;
  }
  if (count_ && emitted_ >= *count_) return false;
  uint64_t line = 0;
  std::string error;
  if (!next_entry(item, line, error)) return false;
  if (!error.empty())  // the file changed since open() checked it
    throw std::runtime_error(value_ + ":" + std::to_string(line) + ": " + error);
  ++emitted_;
  return true;
}

}  // namespace embedflow
