#include "embedflow/progress.h"

#include <algorithm>
#include <chrono>
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

namespace {

// The item counter of a run.
ProgressReporter::LineFormat item_line(std::function<ProgressSnapshot()> poll) {
  const auto start = std::chrono::steady_clock::now();
  return [poll = std::move(poll), start](bool tty) {
    ProgressSnapshot s = poll();
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double rate = elapsed > 0 ? double(s.done) / elapsed : 0.0;
    std::string eta = (s.total && rate > 0 && s.done < s.total)
                          ? "ETA " + format_duration(double(s.total - s.done) / rate)
                          : "";
    std::string count = std::to_string(s.done) + (s.total ? "/" + std::to_string(s.total) : "");
    char text[256];
    if (tty) {
      const int width = 30;
      std::string bar;
      if (s.total) {
        int filled = static_cast<int>(width * std::min(1.0, double(s.done) / double(s.total)));
        bar = "[" + std::string(filled, '=') + std::string(width - filled, ' ') + "] ";
      }
      std::snprintf(text, sizeof text, "%s items  %.1f items/s  %s %s", count.c_str(), rate,
                    format_duration(elapsed).c_str(), eta.c_str());
      return bar + text;
    }
    std::snprintf(text, sizeof text, "progress: %s items, %.1f items/s, %s elapsed %s",
                  count.c_str(), rate, format_duration(elapsed).c_str(), eta.c_str());
    return std::string(text);
  };
}

}  // namespace

ProgressReporter::ProgressReporter(bool tty, std::function<ProgressSnapshot()> poll,
                                   double log_every_s)
    : ProgressReporter(tty, item_line(std::move(poll)), log_every_s) {}

ProgressReporter::ProgressReporter(bool tty, LineFormat line, double log_every_s)
    : tty_(tty), line_(std::move(line)), log_every_s_(log_every_s) {
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

void ProgressReporter::note(const std::string& message) {
  std::lock_guard<std::mutex> lock(print_mu_);
  std::fprintf(stderr, "%s%s\n", tty_ ? "\r\033[K" : "", message.c_str());
  std::fflush(stderr);
}

void ProgressReporter::print(bool final) {
  if (!tty_ && final) return;  // log lines: the last periodic one stands
  const std::string line = line_(tty_);
  std::lock_guard<std::mutex> lock(print_mu_);
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace embedflow
