#include "embedflow/jobs/job_journal.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <unistd.h>

#include "embedflow/jobs/batch_job.h"

namespace fs = std::filesystem;

namespace embedflow::jobs {

namespace {

uint64_t fp64(const std::string& fingerprint) {
  uint64_t h = stable_id_hash(fingerprint);
  return h ? h : 1;  // 0 marks "not done"
}

}  // namespace

JobJournal::JobJournal(const std::string& dir, const Json& header, const JobOptions& options,
                       size_t sinks)
    : dir_(dir), path_((fs::path(dir) / "journal.jsonl").string()), sink_through_(sinks, -1) {
  part_size_ = options.part_size ? options.part_size : 10000;
  bool exists = fs::exists(path_);
  // --force: the folder's contents are removed below, not the folder: a shard's folder is the one
  // its run holds locked.
  if (exists && options.force) exists = false;
  if (exists && !options.resume)
    throw std::runtime_error(dir_ +
                             " holds the journal of an earlier run of this pipeline: "
                             "--resume continues it, --force starts over");
  fs::create_directories(dir_);
  if (!exists) {
    // Without a journal nothing here belongs to a job: the remains of one whose folder removal a
    // kill interrupted (run_job removes the journal first) must not mix into this job's parts.
    for (const auto& entry : fs::directory_iterator(dir_)) fs::remove_all(entry.path());
  }
  if (exists) {
    std::ifstream in(path_);
    std::string line;
    if (!std::getline(in, line)) throw std::runtime_error(path_ + " is empty: use --force");
    Json old = Json::parse(line, nullptr, false);
    if (old.is_discarded() || !old.contains("config_hash"))
      throw std::runtime_error(path_ + " has no valid header: use --force to start over");
    if (old["config_hash"] != header["config_hash"])
      throw std::runtime_error("the pipeline changed since the interrupted run (config hash " +
                               old["config_hash"].get<std::string>().substr(0, 12) + " → " +
                               header["config_hash"].get<std::string>().substr(0, 12) +
                               "): its completed items would not match; use --force to start over");
    if (old["models"] != header["models"])
      throw std::runtime_error("a model file changed since the interrupted run (" +
                               old["models"].dump() + " → " + header["models"].dump() +
                               "); use --force to start over");
    part_size_ = old.value("part_size", part_size_);
    attempt_ = 1;
    int line_attempt = 0;  // part lines follow the line of the attempt that wrote them
    while (std::getline(in, line)) {
      Json j = Json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;  // a line cut short by a kill
      if (j.contains("attempt")) {
        line_attempt = j["attempt"].get<int>();
        attempt_ = std::max(attempt_, line_attempt + 1);
      }
      if (!j.contains("items")) continue;
      for (const auto& it : j["items"]) {
        uint64_t index = it[0].get<uint64_t>();
        if (done_.size() <= index) {
          done_.resize(index + 1, 0);
          done_by_.resize(index + 1, -1);
        }
        if (!done_[index]) ++completed_count_;
        done_[index] = fp64(it[2].get<std::string>());
        done_by_[index] = line_attempt;
      }
    }
  }
  file_ = std::fopen(path_.c_str(), "a");
  if (!file_) throw std::runtime_error("cannot write " + path_);
  std::string lines;
  if (!exists) {
    Json h = header;
    h["part_size"] = part_size_;
    lines += h.dump() + "\n";
  }
  lines += Json{{"attempt", attempt_}}.dump() + "\n";
  std::fwrite(lines.data(), 1, lines.size(), file_);
  std::fflush(file_);
  ::fsync(fileno(file_));
}

JobJournal::~JobJournal() {
  if (file_) std::fclose(file_);
}

bool JobJournal::completed(uint64_t index, const std::string& fingerprint) const {
  return index < done_.size() && done_[index] == fp64(fingerprint);
}

int JobJournal::completed_by(uint64_t index) const {
  std::lock_guard<std::mutex> lock(mu_);
  return index < done_by_.size() ? done_by_[index] : -1;
}

void JobJournal::add_item(uint64_t index, const std::string& id, const std::string& fingerprint) {
  std::lock_guard<std::mutex> lock(mu_);
  last_part_ = static_cast<int64_t>(part_of(index));
  Json& part = pending_[part_of(index)];
  if (part.is_null()) part = Json::array();
  part.push_back(Json::array({index, id, fingerprint}));
}

void JobJournal::source_exhausted() {
  std::lock_guard<std::mutex> lock(mu_);
  exhausted_ = true;
}

int64_t JobJournal::cut_part() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exhausted_ ? -1 : last_part_;
}

void JobJournal::sink_committed_through(size_t sink, int64_t part) {
  std::lock_guard<std::mutex> lock(mu_);
  sink_through_[sink] = std::max(sink_through_[sink], part);
  int64_t low = INT64_MAX;
  for (int64_t t : sink_through_) low = std::min(low, t);
  flush_ready(sink_through_.empty() ? -1 : low);
}

void JobJournal::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  flush_ready(INT64_MAX);
}

void JobJournal::flush_ready(int64_t through) {
  // A stream cut short (a stop drained it, a failure ended it) left its last part incomplete: its
  // items went through in smaller batches than an uninterrupted run forms, so the part is redone.
  if (!exhausted_ && last_part_ >= 0) through = std::min(through, last_part_ - 1);
  std::string lines;
  while (!pending_.empty() && static_cast<int64_t>(pending_.begin()->first) <= through) {
    const Json& items = pending_.begin()->second;
    lines +=
        Json{{"part", pending_.begin()->first}, {"attempt", attempt_}, {"items", items}}.dump() +
        "\n";
    for (const auto& it : items) {
      const uint64_t index = it[0].get<uint64_t>();
      if (done_by_.size() <= index) done_by_.resize(index + 1, -1);
      done_by_[index] = attempt_;
    }
    pending_.erase(pending_.begin());
  }
  if (lines.empty()) return;
  std::fwrite(lines.data(), 1, lines.size(), file_);
  std::fflush(file_);
  ::fsync(fileno(file_));
}

}  // namespace embedflow::jobs
