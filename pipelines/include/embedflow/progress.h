// Progress on stderr: a redrawn bar on a terminal, periodic log lines elsewhere.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
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
  // The text of one progress line, built on the reporter's thread each time it prints: `tty`
  // says whether it is a redrawn bar or a log line.
  using LineFormat = std::function<std::string(bool tty)>;

  // `tty`: redraw a bar every 200 ms; otherwise a log line every `log_every_s` seconds. The line
  // counts items: "[====    ] 5/10 items  2.0 items/s  0:05 ETA 3s".
  ProgressReporter(bool tty, std::function<ProgressSnapshot()> poll, double log_every_s = 10.0);
  // The same cadence with another line (a download's bytes and rate).
  ProgressReporter(bool tty, LineFormat line, double log_every_s = 10.0);
  ~ProgressReporter();
  // A message on a line of its own; on a terminal the bar is cleared first, so the message is
  // not drawn over, and comes back at the next redraw.
  void note(const std::string& message);
  void stop();  // prints the final state once

 private:
  void loop();
  void print(bool final);
  bool tty_;
  LineFormat line_;
  double log_every_s_;
  std::mutex mu_;
  std::mutex print_mu_;  // the reporter's thread and note() both write stderr
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// "1:02:03" / "2:03" / "7s".
std::string format_duration(double seconds);

}  // namespace embedflow
