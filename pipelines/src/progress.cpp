#include "embedflow/progress.h"

#include <cstdio>
#include <string>

namespace embedflow {

std::string format_duration(double seconds) {
  if (seconds < 0) seconds = 0;
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

ProgressReporter::ProgressReporter(bool tty, std::function<ProgressSnapshot()> poll,
                                   double log_every_s)
    : tty_(tty),
      poll_(std::move(poll)),
      log_every_s_(log_every_s),
      start_(std::chrono::steady_clock::now()) {
  thread_ = std::thread([this] { loop(); });
}

ProgressReporter::~ProgressReporter() {
  stop();
}

void ProgressReporter::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  print(true);
}

void ProgressReporter::loop() {
  auto period = tty_ ? std::chrono::milliseconds(200)
                     : std::chrono::milliseconds(static_cast<long>(log_every_s_ * 1000));
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
    lock.unlock();
    print(false);
    lock.lock();
  }
}

void ProgressReporter::print(bool final) {
  ProgressSnapshot s = poll_();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? double(s.done) / elapsed : 0.0;
  std::string eta = (s.total && rate > 0 && s.done < s.total)
                        ? "ETA " + format_duration(double(s.total - s.done) / rate)
                        : "";
  std::string count = std::to_string(s.done) + (s.total ? "/" + std::to_string(s.total) : "");
  if (tty_) {
    const int width = 30;
    std::string bar;
    if (s.total) {
      int filled = static_cast<int>(width * std::min(1.0, double(s.done) / double(s.total)));
      bar = "[" + std::string(filled, '=') + std::string(width - filled, ' ') + "] ";
    }
    std::fprintf(stderr, "\r\033[K%s%s items  %.1f items/s  %s %s", bar.c_str(), count.c_str(),
                 rate, format_duration(elapsed).c_str(), eta.c_str());
    if (final) std::fputc('\n', stderr);
  } else if (!final) {
    std::fprintf(stderr, "progress: %s items, %.1f items/s, %s elapsed %s\n", count.c_str(), rate,
                 format_duration(elapsed).c_str(), eta.c_str());
  }
  std::fflush(stderr);
}

}  // namespace embedflow
