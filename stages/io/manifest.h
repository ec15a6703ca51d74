// Streaming readers for the inputs that sources take: text files line by line, and manifests in
// JSON Lines or CSV (RFC 4180, header row). One record is in memory at a time, so a manifest of
// ten million rows costs no more than one of ten.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "embedflow/errors.h"
#include "embedflow/item.h"
#include "embedflow/params.h"

namespace embedflow::io {

// Reads a text file one line at a time: strips "\n" / "\r\n" and a UTF-8 byte order mark on the
// first line. Line numbers are 1-based.
class LineReader {
 public:
  // Throws std::runtime_error naming the file. A line longer than `max_line_bytes` is not held:
  // next() skips to its end and says so through too_long().
  explicit LineReader(const std::string& path, uint64_t max_line_bytes = UINT64_MAX);
  bool next(std::string& line);
  uint64_t line_number() const { return line_; }
  const std::string& path() const { return path_; }
  // The line next() returned was longer than max_line_bytes: `line` is empty, length() says
  // how long it was.
  bool too_long() const { return too_long_; }
  uint64_t length() const { return length_; }

 private:
  bool fill();
  std::string path_;
  std::ifstream in_;
  uint64_t max_ = UINT64_MAX;
  std::vector<char> buf_;
  size_t pos_ = 0, end_ = 0;
  uint64_t line_ = 0, length_ = 0;
  bool too_long_ = false;
};

enum class ManifestFormat { Jsonl, Csv, Tsv };
// From the extension (.jsonl/.ndjson, .csv, .tsv; any case). False when it is none of these.
bool manifest_format_for(const std::string& path, ManifestFormat& out);

struct ManifestRecord {
  uint64_t line = 0;      // 1-based line where the record starts
  Json fields;            // a JSON object; CSV values are strings, JSONL values keep their types
  std::string error;      // set when this record cannot be read; the reader goes on with the next
  bool bad_utf8 = false;  // the error is invalid UTF-8 (the line's bytes are in `raw`)
  std::string raw;        // the record's text, kept only when `error` is set
};

// JSON Lines (one object per line) or CSV/TSV with a header row naming the columns. Blank lines
// are skipped. A malformed record is returned with `error` set rather than thrown, so callers can
// report every bad line at once.
class ManifestReader {
 public:
  // Throws std::runtime_error when the file cannot be read, the extension is unknown, or a CSV
  // header is empty or repeats a column.
  explicit ManifestReader(const std::string& path);
  bool next(ManifestRecord& rec);
  // CSV/TSV column names (empty for JSONL, whose objects may differ line by line).
  const std::vector<std::string>& columns() const { return header_; }
  ManifestFormat format() const { return format_; }
  const std::string& path() const { return lines_.path(); }

 private:
  bool next_jsonl(ManifestRecord& rec);
  bool next_csv(ManifestRecord& rec);
  // Splits one CSV record (reading more lines while a quoted field is open).
  bool read_csv_fields(std::vector<std::string>& fields, std::string& error, std::string& raw);

  LineReader lines_;
  ManifestFormat format_ = ManifestFormat::Jsonl;
  char delimiter_ = ',';
  std::vector<std::string> header_;
};

// A scalar manifest value as an id or path: strings as they are, integers in decimal. Returns
// false for anything else (null, floats, lists, objects).
bool manifest_string(const Json& v, std::string& out);

// Byte offset of the first invalid UTF-8 sequence in `s`, or std::string::npos when valid.
size_t invalid_utf8_offset(const std::string& s);

// Finds repeated ids among millions without keeping the ids: only a 64-bit hash and the line of
// each is held; hash collisions are confirmed against the real ids in a second pass by the
// caller (which only happens when there are suspects).
class DuplicateIdFinder {
 public:
  void add(const std::string& id, uint64_t line) { seen_.emplace_back(hash(id), line); }
  // Lines whose id hash is shared with another line, sorted. Usually empty.
  std::vector<uint64_t> suspects();
  struct Duplicate {
    std::string id;
    uint64_t first_line, line;
  };
  // Given the ids of the suspect lines (in the order of suspects()), the real duplicates.
  std::vector<Duplicate> confirm(const std::vector<std::pair<uint64_t, std::string>>& ids) const;

 private:
  static uint64_t hash(const std::string& s);
  std::vector<std::pair<uint64_t, uint64_t>> seen_;  // (hash, line)
};

// The problems found in a list or manifest ("file.csv:12: no 'path' field"), as one error
// located at the parameter that named the file; at most 20 are spelled out.
ConfigError problems_error(const Params& params, const std::string& key,
                           const std::vector<std::string>& problems);

}  // namespace embedflow::io
