// Comparing an output file with its golden copy: arrays row by row (cosine and max |Δ|), JSON
// Lines line by line (keys, strings and ids exact, numbers within tolerance), CSV cell by cell,
// anything else (PNG included) byte for byte. Mismatches name the row or line and its item id.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "embedflow/regression/settings.h"

namespace embedflow::regression {

struct Mismatch {
  std::string where;   // "row 3", "line 7", "row 2, column 'score'", "header"
  std::string id;      // the item id of that row when known
  std::string detail;  // what differs, golden vs current
};

struct FileComparison {
  enum class Status { Match, Differ, Missing, Extra };
  Status status = Status::Match;
  std::string stage;                 // writer stage id
  std::string path;                  // relative to the output folder
  std::string kind;                  // "npy", "jsonl", "csv", "bytes"
  uint64_t units = 0;                // rows, lines or bytes compared
  std::vector<Mismatch> mismatches;  // the first `max_report`
  uint64_t mismatch_count = 0;       // all of them
  std::string note;                  // one-line summary (shape change, how compared, …)
  bool ok() const { return status == Status::Match; }
};

// Item ids of the rows of an .npy, from its write.npy sidecar (`{"row": i, "id": …}` lines);
// empty when there is none.
std::vector<std::string> sidecar_ids(const std::string& npy_path);

// Each compares `current` against `golden` (both must exist). `ids` are the item ids of an
// .npy's rows, or one id for a file holding one item (sidecar_ids() of the golden when empty),
// for the report. At most `max_report` mismatches are kept; all are counted.
FileComparison compare_npy(const std::string& golden, const std::string& current,
                           const Tolerance& tol, size_t max_report = 10,
                           std::vector<std::string> ids = {});
FileComparison compare_jsonl(const std::string& golden, const std::string& current,
                             const Tolerance& tol, size_t max_report = 10);
FileComparison compare_csv(const std::string& golden, const std::string& current,
                           const Tolerance& tol, size_t max_report = 10);
FileComparison compare_bytes(const std::string& golden, const std::string& current,
                             size_t max_report = 10);
// Picks the comparison by extension: .npy, .jsonl, .csv, else bytes (.png: byte-exact).
FileComparison compare_file(const std::string& golden, const std::string& current,
                            const Tolerance& tol, size_t max_report = 10);

}  // namespace embedflow::regression
