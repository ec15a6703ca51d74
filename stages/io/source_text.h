// source.text: sentences or documents to embed, inline, one per line of a file, or from a
// manifest column.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "stages/io/manifest.h"

namespace embedflow {

StageSchema source_text_schema();

class SourceText : public SourceStage {
 public:
  explicit SourceText(const Params& params);
  void open(const StageContext& ctx) override;
  bool next(Item& item) override;
  std::optional<uint64_t> size_hint() const override { return count_; }

 private:
  enum class Mode { Inline, File, Manifest };

  void count_lines();
  void scan_manifest();
  // The next manifest record as an item; `problem` is set for records that cannot become an
  // item at all (reported at open()), item.error for ones that become failed items.
  bool next_record(Item& item, uint64_t& line, std::string& problem);
  void fail(Item& item, const std::string& message) const;

  Params params_;
  Mode mode_ = Mode::Inline;
  std::string key_, path_;
  std::string stage_id_;
  bool skip_empty_ = false;
  uint64_t max_line_bytes_ = 1 << 20;
  std::string field_, id_field_;
  uint64_t limit_ = 0;
  std::optional<uint64_t> count_;
  uint64_t emitted_ = 0;

  std::vector<std::string> inline_;
  size_t inline_next_ = 0;
  std::unique_ptr<io::LineReader> lines_;
  std::unique_ptr<io::ManifestReader> manifest_;
};

}  // namespace embedflow
