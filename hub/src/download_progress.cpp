#include "download_progress.h"

#include <algorithm>
#include <iostream>

#include <unistd.h>

#include "embedflow/hub/cache.h"

namespace embedflow::hub {

namespace {

double seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

DownloadProgress::DownloadProgress(ProgressMode mode, uint64_t total_bytes, size_t files)
    : enabled_(mode != ProgressMode::Off),
      tty_(mode == ProgressMode::On || (mode == ProgressMode::Auto && ::isatty(2))),
      total_(total_bytes),
      files_(files),
      start_(Clock::now()),
      file_start_(start_),
      last_byte_(start_) {}

DownloadProgress::~DownloadProgress() = default;

void DownloadProgress::start_reporting() {
  if (enabled_ && !reporter_)
    reporter_ = std::make_unique<ProgressReporter>(tty_, [this](bool tty) { return line(tty); });
}

void DownloadProgress::file_start(const std::string& name, uint64_t size, uint64_t resumed_from) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    name_ = name;
    label_.clear();
    ++index_;
    done_ += resumed_from;
    resumed_ += resumed_from;
    file_start_ = Clock::now();
    file_done_bytes_ = 0;
  }
  start_reporting();
  if (reporter_ && !tty_)
    reporter_->note("fetching [" + std::to_string(index_) + "/" + std::to_string(files_) + "] " +
                    name + " (" + format_bytes(size) + ")" +
                    (resumed_from ? ", resuming at " + format_bytes(resumed_from) : ""));
}

void DownloadProgress::add(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ += bytes;
  file_done_bytes_ += bytes;
  if (bytes) last_byte_ = Clock::now();
}

void DownloadProgress::restart(uint64_t dropped) {
  std::lock_guard<std::mutex> lock(mu_);
  done_ = dropped > done_ ? 0 : done_ - dropped;
  resumed_ = dropped > resumed_ ? 0 : resumed_ - dropped;
}

void DownloadProgress::skip(uint64_t size) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++index_;
    done_ += size;
    resumed_ += size;
  }
  start_reporting();
}

void DownloadProgress::checking(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  label_ = what + " " + name_;
}

void DownloadProgress::file_done() {
  std::string done_line;
  {
    std::lock_guard<std::mutex> lock(mu_);
    label_.clear();
    if (!tty_) {
      double s = seconds(file_start_, std::max(file_start_, last_byte_));
      done_line = "  done " + name_ + ": " + format_bytes(file_done_bytes_) + " in " +
                  format_duration(s) +
                  (s > 0 ? " (" + format_bytes(uint64_t(file_done_bytes_ / s)) + "/s)" : "");
    }
  }
  if (reporter_ && !done_line.empty()) reporter_->note(done_line);
}

void DownloadProgress::note(const std::string& message) {
  if (reporter_)
    reporter_->note(message);
  else
    std::cerr << message << "\n";
}

void DownloadProgress::finish() {
  if (reporter_) reporter_->stop();
}

std::string DownloadProgress::status_line(Clock::time_point now) const {
  // The rate of the transfers, not counting the checks after them.
  double transferring = seconds(start_, last_byte_);
  double rate = transferring > 0 ? double(done_ - resumed_) / transferring : 0;
  std::string out = format_bytes(done_) + " / " + format_bytes(total_) + "  " +
                    format_bytes(uint64_t(rate)) + "/s";
  if (rate > 0 && total_ > done_ && seconds(start_, now) >= 1.0)  // early rates are noise
    out += "  ETA " + format_duration(double(total_ - done_) / rate);
  return out;
}

std::string DownloadProgress::line(bool tty) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string status = status_line(Clock::now());
  if (!tty) return "  " + name_ + ": " + status;
  constexpr int kWidth = 24;
  double frac = total_ ? std::min(1.0, double(done_) / double(total_)) : 0.0;
  int filled = static_cast<int>(frac * kWidth);
  std::string bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
  const std::string& what = label_.empty() ? name_ : label_;
  std::string name = what.size() > 48 ? "…" + what.substr(what.size() - 47) : what;
  return bar + " " + std::to_string(index_) + "/" + std::to_string(files_) + "  " + status + "  " +
         name;
}

}  // namespace embedflow::hub
