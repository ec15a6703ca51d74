// source.files: the files a pipeline runs on, from a glob, a folder, a list file or a manifest.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "stages/io/manifest.h"

namespace embedflow {

StageSchema source_files_schema();

class SourceFiles : public SourceStage {
 public:
  explicit SourceFiles(const Params& params);
  void open(const StageContext& ctx) override;
  bool next(Item& item) override;
  std::optional<uint64_t> size_hint() const override { return count_; }

 private:
  enum class Mode { Glob, Dir, List, Manifest };

  void walk_glob();
  void walk_dir();
  void sort_and_limit();
  // list / manifest: checks every entry once (ids, duplicates) so a bad line stops the run
  // before anything is loaded, then reads the file again while streaming.
  void scan_entries();
  bool next_entry(Item& item, uint64_t& line, std::string& error);
  // Resolves an entry against the list's folder and derives the default id.
  void resolve_entry(const std::string& written, std::string& source, std::string& id) const;

  Params params_;
  Mode mode_ = Mode::Dir;
  std::string key_;    // the parameter that chose the mode ("glob", "dir", …), for messages
  std::string value_;  // its value
  uint64_t limit_ = 0;
  bool skip_hidden_ = true;
  std::optional<uint64_t> count_;

  // glob / dir: the matching files relative to root_, sorted.
  std::string root_;
  std::vector<std::string> relative_;
  size_t next_index_ = 0;

  // list / manifest, streamed.
  std::string base_dir_;      // entries are relative to this folder
  std::string base_dir_abs_;  // same, absolute, for deriving ids of absolute entries
  std::string id_field_, path_field_;
  std::unique_ptr<io::LineReader> list_;
  std::unique_ptr<io::ManifestReader> manifest_;
  uint64_t emitted_ = 0;
};

}  // namespace embedflow
