#include "error_log.h"

#include <filesystem>

#include "embedflow/errors.h"

namespace fs = std::filesystem;

namespace embedflow::detail {

ErrorLog::ErrorLog(std::string path, Mode mode) : path_(std::move(path)), mode_(mode) {
  std::error_code ec;
  if (mode_ == Mode::InPlace) fs::remove(path_, ec);
}

ErrorLog::~ErrorLog() {
  if (file_) std::fclose(file_);
}

void ErrorLog::log(const Item& item, const std::string& stage, const std::string& message) {
  Json j = {{"id", item.id},
            {"source", item.source},
            {"index", item.index},
            {"stage", stage},
            {"error", message}};
  std::string line = j.dump() + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  ++count_;  // counted even when it cannot be written: the run reports it
  if (mode_ == Mode::Replace) {
    if (!write_error_.empty()) return;
    try {
      if (!temp_) temp_ = std::make_unique<AtomicFile>(path_);
      temp_->write(line);
    } catch (const std::exception& e) {
      write_error_ = e.what();
    }
    return;
  }
  if (!file_) {
    fs::path p(path_);
    std::error_code ec;
    if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
    file_ = std::fopen(path_.c_str(), "a");
    if (!file_) return;  // nowhere to log; the count still reports it
  }
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);  // flushed per record: a killed job keeps what was logged for its resume
}

std::string ErrorLog::commit(bool complete) {
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ != Mode::Replace) return count_ ? path_ : std::string();
  if (!temp_) {
    if (!write_error_.empty())
      throw RunFailure("cannot write the error records to " + path_ + ": " + write_error_);
    // No records: an earlier run's would describe items this run handled, so a complete run
    // removes them. An incomplete one says nothing about the items it did not reach.
    std::error_code ec;
    if (complete) fs::remove(path_, ec);
    return "";
  }
  std::unique_ptr<AtomicFile> temp = std::move(temp_);
  if (!write_error_.empty()) {
    temp->discard();
    throw RunFailure("cannot write the error records to " + path_ + ": " + write_error_);
  }
  return temp->commit(complete);
}

}  // namespace embedflow::detail
