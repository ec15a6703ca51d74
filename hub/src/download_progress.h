// The progress of one fetch, drawn by the engine's ProgressReporter: bytes, rate and ETA of all
// its transfers and the file being fetched — a bar on a terminal, a log line every 10 s
// elsewhere, where each file also gets a line when it starts and ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "embedflow/progress.h"

namespace embedflow::hub {

class DownloadProgress {
 public:
  // `total_bytes` and `files`: what the fetch plans to transfer.
  DownloadProgress(ProgressMode mode, uint64_t total_bytes, size_t files);
  ~DownloadProgress();

  void file_start(const std::string& name, uint64_t size, uint64_t resumed_from);
  void add(uint64_t bytes);        // written to disk
  void restart(uint64_t dropped);  // the server ignored a Range request: `dropped` bytes go
  void skip(uint64_t size);        // a planned file that needed no transfer: counted as done
  void checking(const std::string& what);  // hashing a large file takes a moment: say so
  void file_done();
  // A message between redraws (a retry), shown whatever the mode.
  void note(const std::string& message);
  void finish();  // the final state, once

 private:
  using Clock = std::chrono::steady_clock;
  void start_reporting();  // at the first file: a fetch with nothing to do prints nothing
  std::string line(bool tty);
  std::string status_line(Clock::time_point now) const;  // needs mu_

  const bool enabled_, tty_;
  const uint64_t total_;
  const size_t files_;
  const Clock::time_point start_;
  std::mutex mu_;  // the state below; the reporter reads it on its thread
  uint64_t done_ = 0, resumed_ = 0, file_done_bytes_ = 0;
  size_t index_ = 0;
  std::string name_, label_;
  Clock::time_point file_start_, last_byte_;
  std::unique_ptr<ProgressReporter> reporter_;
};

}  // namespace embedflow::hub
