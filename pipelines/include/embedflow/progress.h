// Progress on stderr: a redrawn bar on a terminal, periodic log lines elsewhere.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace embedflow {

// Whether a long operation (a run, a download) draws progress on stderr. Auto: when stderr is a
// terminal.
enum class ProgressMode { Auto, On, Off };

struct ProgressSnapshot {
  uint64_t done = 0;
  uint64_t total = 0;  // 0 = unknown
};

class ProgressReporter {
 public:
  // `tty`: redraw a bar every 200 ms; otherwise a log line every `log_every_s` seconds.
  ProgressReporter(bool tty, std::function<ProgressSnapshot()> poll, double log_every_s = 10.0);
  ~ProgressReporter();
  void stop();  // prints the final state once

 private:
  void loop();
  void print(bool final);
  bool tty_;
  std::function<ProgressSnapshot()> poll_;
  double log_every_s_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// "1:02:03" / "2:03" / "7s".
std::string format_duration(double seconds);

}  // namespace embedflow
