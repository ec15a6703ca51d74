// write.csv: items as rows of a CSV table (RFC 4180), typically records such as scores or stats.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "embedflow/atomic_file.h"
#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema write_csv_schema();

// One CSV field, quoted only when it has to be (delimiter, quote, CR or LF inside), with quotes
// doubled — what Python's csv module writes with its defaults.
std::string csv_field(const std::string& value, char delimiter);

class WriteCsv : public SinkStage {
 public:
  explicit WriteCsv(const Params& params);
  void open(const StageContext& ctx) override;
  void write(const Item& item) override;
  void finish(bool complete) override;
  std::vector<std::string> outputs() const override { return outputs_; }

 private:
  std::string cell(const Item& item, const std::string& column) const;
  void write_row(const std::vector<std::string>& cells);

  Params params_;
  std::string path_;
  char delimiter_ = ',';
  std::string line_end_ = "\r\n";
  std::vector<std::string> columns_;
  bool header_written_ = false;
  std::unique_ptr<AtomicFile> file_;
  uint64_t rows_ = 0;  // items written
  std::vector<std::string> outputs_;
};

}  // namespace embedflow
