#include "stages/io/manifest.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <system_error>

#include <utf8proc.h>

namespace embedflow::io {

LineReader::LineReader(const std::string& path, uint64_t max_line_bytes)
    : path_(path), in_(path, std::ios::binary), max_(max_line_bytes), buf_(size_t{1} << 16) {
  if (!in_)
    throw std::runtime_error("cannot open " + path + ": " +
                             std::error_code(errno, std::generic_category()).message());
}

bool LineReader::fill() {
  in_.read(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  if (in_.bad())
    throw std::runtime_error("read error in " + path_ + " after line " + std::to_string(line_));
  pos_ = 0;
  end_ = static_cast<size_t>(in_.gcount());
  return end_ > 0;
}

bool LineReader::next(std::string& line) {
  line.clear();
  too_long_ = false;
  length_ = 0;
  bool any = false;
  // Our own buffer rather than std::getline: a line of gigabytes is counted and skipped, never
  // held whole.
  for (;;) {
    if (pos_ == end_ && !fill()) {
      if (!any) return false;
      break;
    }
    any = true;
    const char* start = buf_.data() + pos_;
    const char* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
    const size_t n = nl ? static_cast<size_t>(nl - start) : end_ - pos_;
    length_ += n;
    // More than max_ + 1 bytes (room for the '\r' of a "\r\n" ending), without overflowing.
    if (!too_long_ && length_ > max_ && length_ - max_ > 1) {
      too_long_ = true;
      line.clear();
      line.shrink_to_fit();
    }
    if (!too_long_) line.append(start, n);
    pos_ += n + (nl ? 1 : 0);
    if (nl) break;
  }
  ++line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  if (!too_long_ && line.size() > max_) {
    too_long_ = true;
    line.clear();
    line.shrink_to_fit();
  }
  return true;
}

static std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool manifest_format_for(const std::string& path, ManifestFormat& out) {
  std::string p = lower(path);
  if (ends_with(p, ".jsonl") || ends_with(p, ".ndjson"))
    out = ManifestFormat::Jsonl;
  else if (ends_with(p, ".csv"))
    out = ManifestFormat::Csv;
  else if (ends_with(p, ".tsv"))
    out = ManifestFormat::Tsv;
  else
    return false;
  return true;
}

size_t invalid_utf8_offset(const std::string& s) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  size_t offset = 0;
  while (offset < s.size()) {
    // ASCII needs no decoding; it is nearly all of most manifests.
    if (p[offset] < 0x80) {
      ++offset;
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n =
        utf8proc_iterate(p + offset, static_cast<utf8proc_ssize_t>(s.size() - offset), &cp);
    if (n < 0) return offset;
    offset += static_cast<size_t>(n);
  }
  return std::string::npos;
}

bool manifest_string(const Json& v, std::string& out) {
  if (v.is_string())
    out = v.get<std::string>();
  else if (v.is_number_integer())
    out = v.dump();
  else
    return false;
  return true;
}

ManifestReader::ManifestReader(const std::string& path) : lines_(path) {
  if (!manifest_format_for(path, format_))
    throw std::runtime_error(path +
                             ": unknown manifest format; expected .jsonl, .ndjson, .csv or .tsv");
  if (format_ == ManifestFormat::Jsonl) return;
  delimiter_ = format_ == ManifestFormat::Tsv ? '\t' : ',';
  std::string error, raw;
  while (header_.empty()) {
    if (!read_csv_fields(header_, error, raw)) return;  // empty file: no records
    if (!error.empty())
      throw std::runtime_error(path + ":" + std::to_string(lines_.line_number()) +
                               ": header: " + error);
    if (header_.size() == 1 && header_[0].empty()) header_.clear();  // blank line before header
  }
  std::set<std::string> names;
  for (const auto& name : header_) {
    if (name.empty()) throw std::runtime_error(path + ": header has an empty column name");
    if (!names.insert(name).second)
      throw std::runtime_error(path + ": header repeats column '" + name + "'");
  }
}

bool ManifestReader::next(ManifestRecord& rec) {
  rec = ManifestRecord{};
  return format_ == ManifestFormat::Jsonl ? next_jsonl(rec) : next_csv(rec);
}

bool ManifestReader::next_jsonl(ManifestRecord& rec) {
  std::string line;
  for (;;) {
    if (!lines_.next(line)) return false;
    if (line.find_first_not_of(" \t") != std::string::npos) break;
  }
  rec.line = lines_.line_number();
  size_t bad = invalid_utf8_offset(line);
  if (bad != std::string::npos) {
    rec.error = "not valid UTF-8 (byte " + std::to_string(bad) + ")";
    rec.bad_utf8 = true;
    rec.raw = std::move(line);
    return true;
  }
  try {
    rec.fields = Json::parse(line);
  } catch (const Json::parse_error& e) {
    // nlohmann's messages start with "[json.exception.parse_error.101] parse error at line 1, ";
    // keep the part a person needs.
    std::string what = e.what();
    size_t col = what.find("column");
    rec.error = "not valid JSON: " + (col != std::string::npos ? what.substr(col) : what);
    rec.raw = std::move(line);
    return true;
  }
  if (!rec.fields.is_object()) {
    rec.error =
        "expected a JSON object ({\"path\": ...}), found " + std::string(rec.fields.type_name());
    rec.raw = std::move(line);
    rec.fields = Json::object();
  }
  return true;
}

bool ManifestReader::next_csv(ManifestRecord& rec) {
  std::vector<std::string> fields;
  for (;;) {
    std::string raw;
    uint64_t start = lines_.line_number() + 1;
    if (!read_csv_fields(fields, rec.error, raw)) return false;
    rec.line = start;
    if (!rec.error.empty()) {
      rec.raw = std::move(raw);
      return true;
    }
    if (fields.size() == 1 && fields[0].empty() && raw.empty()) continue;  // blank line
    size_t bad = invalid_utf8_offset(raw);
    if (bad != std::string::npos) {
      rec.error = "not valid UTF-8 (byte " + std::to_string(bad) + ")";
      rec.bad_utf8 = true;
      rec.raw = std::move(raw);
      return true;
    }
    if (fields.size() != header_.size()) {
      rec.error = std::to_string(fields.size()) + " fields, but the header has " +
                  std::to_string(header_.size()) + " columns";
      rec.raw = std::move(raw);
      return true;
    }
    rec.fields = Json::object();
    for (size_t i = 0; i < fields.size(); ++i) rec.fields[header_[i]] = std::move(fields[i]);
    return true;
  }
}

bool ManifestReader::read_csv_fields(std::vector<std::string>& fields, std::string& error,
                                     std::string& raw) {
  fields.clear();
  error.clear();
  std::string line;
  if (!lines_.next(line)) return false;
  raw = line;
  std::string field;
  bool quoted = false;       // inside a quoted field
  bool after_quote = false;  // a quoted field just closed: only a delimiter may follow
  size_t i = 0;
  for (;;) {
    if (i == line.size()) {
      if (!quoted) break;
      // A line break inside quotes belongs to the field: the record goes on on the next line.
      if (!lines_.next(line)) {
        error = "a quoted field is not closed before the end of the file";
        return true;
      }
      raw += "\n" + line;
      field += '\n';
      i = 0;
      continue;
    }
    char c = line[i++];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i < line.size() && line[i] == '"') {  // "" is a literal quote
        field += '"';
        ++i;
      } else {
        quoted = false;
        after_quote = true;
      }
    } else if (c == delimiter_) {
      fields.push_back(std::move(field));
      field.clear();
      after_quote = false;
    } else if (after_quote) {
      error = std::string("unexpected '") + c + "' after a closing quote (column " +
              std::to_string(fields.size() + 1) + ")";
      return true;
    } else if (c == '"' && field.empty()) {
      quoted = true;
    } else {
      field += c;  // a quote inside an unquoted field is taken literally, as Python's csv does
    }
  }
  fields.push_back(std::move(field));
  return true;
}

uint64_t DuplicateIdFinder::hash(const std::string& s) {
  return std::hash<std::string>{}(s);
}

std::vector<uint64_t> DuplicateIdFinder::suspects() {
  std::sort(seen_.begin(), seen_.end());
  std::vector<uint64_t> lines;
  for (size_t i = 0; i < seen_.size();) {
    size_t j = i + 1;
    while (j < seen_.size() && seen_[j].first == seen_[i].first) ++j;
    if (j - i > 1)
      for (size_t k = i; k < j; ++k) lines.push_back(seen_[k].second);
    i = j;
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

std::vector<DuplicateIdFinder::Duplicate> DuplicateIdFinder::confirm(
    const std::vector<std::pair<uint64_t, std::string>>& ids) const {
  std::map<std::string, uint64_t> first;
  std::vector<Duplicate> dups;
  for (const auto& [line, id] : ids) {  // in line order
    auto [it, inserted] = first.emplace(id, line);
    if (!inserted) dups.push_back({id, it->second, line});
  }
  return dups;
}

ConfigError problems_error(const Params& params, const std::string& key,
                           const std::vector<std::string>& problems) {
  constexpr size_t kMaxShown = 20;
  std::vector<Diagnostic> diags;
  for (size_t i = 0; i < problems.size() && i < kMaxShown; ++i)
    diags.push_back(
        {Diagnostic::Severity::Error, params.where(key), params.stage_id(), problems[i]});
  if (problems.size() > kMaxShown)
    diags.push_back({Diagnostic::Severity::Error, params.where(key), params.stage_id(),
                     "… and " + std::to_string(problems.size() - kMaxShown) + " more problems"});
  return ConfigError(diags);
}

}  // namespace embedflow::io
