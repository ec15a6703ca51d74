// Helpers shared by the regression sources (not installed).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "embedflow/regression/compare.h"

namespace embedflow::regression::detail {

// A number for a report line, `digits` significant.
std::string num(double x, int digits = 7);
// A JSON value for a report line: compact, long ones cut.
std::string brief(const Json& v, size_t max = 60);
// The first `shown` differences of one row or line, and how many more.
std::string summarize(const std::vector<std::string>& diffs, size_t shown = 3);

// A text file's lines without CR/LF, trailing empty lines dropped; throws when unreadable.
std::vector<std::string> read_lines(const std::string& path);
std::string read_bytes(const std::string& path);

// The "id" of a JSON Lines record ("" when it has none; a non-string id as its JSON text).
std::string json_id(const Json& line);

// |current - golden| <= atol + rtol·|golden|; NaN matches only NaN.
bool within(double golden, double current, const Tolerance& tol);

std::filesystem::path common_ancestor(const std::filesystem::path& a,
                                      const std::filesystem::path& b);

// Collects the mismatches of a comparison of `kind`: keeps the first `max`, counts all.
struct Collector {
  Collector(FileComparison& comparison, const char* kind, size_t max_kept)
      : c(comparison), max(max_kept) {
    c.kind = kind;
  }
  FileComparison& c;
  size_t max;
  void add(std::string where, std::string id, std::string detail) {
    ++c.mismatch_count;
    c.status = FileComparison::Status::Differ;
    if (c.mismatches.size() < max)
      c.mismatches.push_back({std::move(where), std::move(id), std::move(detail)});
  }
};

}  // namespace embedflow::regression::detail
