// The append-only journal of a resumable run: a header naming the configuration and model
// hashes, a line per attempt (each run of the job), then one line per committed part listing
// the attempt and its completed source items (position, id, content fingerprint). Lines are
// appended when every writer has committed the part, and fsync'ed per batch of lines, so a
// killed run loses at most the parts in progress. A part whose stream a stop (or a failure) cut
// short is never journaled: the next attempt redoes it whole, forming the batches of an
// uninterrupted run.
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
  // The attempt whose journal line completed source position `index` (this one's included once
  // journaled), -1 when none did: an error record is kept only from that attempt.
  int completed_by(uint64_t index) const;
  // From the source, in order, for every item it emits.
  void add_item(uint64_t index, const std::string& id, const std::string& fingerprint);
  // From the source when its input ran out (not when a stop or a failure ended the stream).
  void source_exhausted();
  // The part the source was in when its stream ended early (stop, failure), -1 if it ended at
  // the end of its input or registered nothing. Known once the stream has ended.
  int64_t cut_part() const;
  // Writer `sink` has committed everything up to and including `part`.
  void sink_committed_through(size_t sink, int64_t part);
  // End of a drained run: everything the source registered went through; the parts before a
  // cut part are journaled, the cut part is not.
  void finish();
  const std::string& dir() const { return dir_; }

 private:
  void flush_ready(int64_t through);
  std::string dir_, path_;
  std::FILE* file_ = nullptr;
  int attempt_ = 0;
  uint64_t part_size_ = 10000;
  std::vector<uint64_t> done_;  // by source position: fingerprint hash, 0 = not done
  std::vector<int> done_by_;    // by source position: the attempt that journaled it, -1 = none
  size_t completed_count_ = 0;
  mutable std::mutex mu_;
  int64_t last_part_ = -1;  // of the last item the source registered
  bool exhausted_ = false;
  std::map<uint64_t, Json> pending_;  // part → items registered, not yet journaled
  std::vector<int64_t> sink_through_;
};

}  // namespace embedflow::jobs
