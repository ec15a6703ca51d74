// errors.jsonl: one JSON line per error record, written as items fail.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "embedflow/atomic_file.h"
#include "embedflow/item.h"

namespace embedflow::detail {

class ErrorLog {
 public:
  enum class Mode {
    // Records go to a temporary beside the path and replace the previous file only at commit():
    // a run that is interrupted, or fails, never destroys the record of the last complete run.
    Replace,
    // Records are appended to the file itself as they come, flushed one by one: a journaled job,
    // whose resume continues the file of the run that was killed.
    Append,
    // As Append, but an earlier file is removed first (the first run of a journaled job).
    InPlace,
  };
  ErrorLog(std::string path, Mode mode);
  ~ErrorLog();
  ErrorLog(const ErrorLog&) = delete;
  ErrorLog& operator=(const ErrorLog&) = delete;

  // Thread-safe. Nothing is created before the first record.
  void log(const Item& item, const std::string& stage, const std::string& message);
  // End of run (Replace mode; a no-op otherwise). `complete`: the run went to its end, so its
  // records (or, with none, the absence of a file) replace what is at the path; otherwise they
  // land beside a previous file as partial_path(path) and that file stays. Returns where the
  // records are ("" without any). Throws RunFailure when they could not be written (disk full).
  std::string commit(bool complete);
  uint64_t count() const { return count_.load(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Mode mode_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;         // Append, InPlace
  std::unique_ptr<AtomicFile> temp_;  // Replace
  std::string write_error_;           // the first failed write (Replace: reported at commit)
  std::atomic<uint64_t> count_{0};
};

}  // namespace embedflow::detail
