#include "error_log.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace embedflow::detail {

ErrorLog::ErrorLog(std::string path, bool append) : path_(std::move(path)) {
  std::error_code ec;
  if (!append) fs::remove(path_, ec);
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
  if (!file_) {
    fs::path p(path_);
    if (p.has_parent_path()) fs::create_directories(p.parent_path());
    file_ = std::fopen(path_.c_str(), "a");
    if (!file_) return;  // nowhere to log; the count still reports it
  }
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);  // flushed per record: a crash keeps what was logged
  ++count_;
}

}  // namespace embedflow::detail
