// errors.jsonl: one JSON line per error record, written as items fail.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

#include "embedflow/item.h"

namespace embedflow::detail {

class ErrorLog {
 public:
  // `append`: add to an existing file (a resumed run adds to its own); otherwise an earlier
  // run's file is removed, since its records would mislead.
  ErrorLog(std::string path, bool append);
  ~ErrorLog();
  ErrorLog(const ErrorLog&) = delete;
  ErrorLog& operator=(const ErrorLog&) = delete;

  // Thread-safe. The file is created with the first record: a run without errors leaves none.
  void log(const Item& item, const std::string& stage, const std::string& message);
  uint64_t count() const { return count_.load(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  std::atomic<uint64_t> count_{0};
};

}  // namespace embedflow::detail
