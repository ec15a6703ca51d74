// The append-only journal of a resumable run: a header naming the configuration and model
// hashes, then one line per committed part listing its completed source items (position, id,
// content fingerprint). Lines are appended when every writer has committed the part, and
// fsync'ed per batch of lines, so a killed run loses at most the parts in progress.
#pragma once

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "embedflow/item.h"
#include "embedflow/jobs/job_options.h"

namespace embedflow::jobs {

class JobJournal {
 public:
  // Creates the journal in `dir`, or continues it (options.resume). Throws std::runtime_error
  // with what to do when an existing journal is in the way or belongs to another configuration.
  JobJournal(const std::string& dir, const Json& header, const JobOptions& options, size_t sinks);
  ~JobJournal();

  int attempt() const { return attempt_; }
  uint64_t part_size() const { return part_size_; }
  uint64_t part_of(uint64_t index) const { return index / part_size_; }
  size_t previously_completed() const { return completed_count_; }

  bool completed(uint64_t index, const std::string& fingerprint) const;
  // From the source, in order, for every item it emits.
  void add_item(uint64_t index, const std::string& id, const std::string& fingerprint);
  // Writer `sink` has committed everything up to and including `part`.
  void sink_committed_through(size_t sink, int64_t part);
  // End of a successful run: everything the source registered is complete.
  void finish();
  const std::string& dir() const { return dir_; }

 private:
  void flush_ready(int64_t through);
  std::string dir_, path_;
  std::FILE* file_ = nullptr;
  int attempt_ = 0;
  uint64_t part_size_ = 10000;
  std::vector<uint64_t> done_;  // by source position: fingerprint hash, 0 = not done
  size_t completed_count_ = 0;
  std::mutex mu_;
  std::map<uint64_t, Json> pending_;  // part → items registered, not yet journaled
  std::vector<int64_t> sink_through_;
};

}  // namespace embedflow::jobs
