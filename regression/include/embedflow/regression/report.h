// The outcome of comparing a run with its goldens, for the terminal and as JSON for CI.
#pragma once

#include <string>
#include <vector>

#include "embedflow/item.h"
#include "embedflow/regression/compare.h"

namespace embedflow::regression {

struct Report {
  std::string pipeline_file;
  std::string golden_dir;
  Json manifest;                      // the golden manifest
  std::vector<std::string> warnings;  // model/config/version drift
  std::vector<FileComparison> files;
  std::vector<Mismatch> error_changes;  // items that fail now and did not (or the reverse)
  bool ok() const;
  std::string text() const;  // readable, for the terminal
  Json to_json() const;
};

}  // namespace embedflow::regression
