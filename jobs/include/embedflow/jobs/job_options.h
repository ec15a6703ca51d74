// How a run takes part in a batch job: which shard it is, whether it is resumable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace embedflow::jobs {

struct ShardSpec {
  int index = 0;
  int count = 1;
  bool active() const { return count > 1; }
  std::string dir_name() const;  // "shard-2-of-8"
};

struct JobOptions {
  ShardSpec shard;
  bool resumable = false;     // keep a journal and spool parts (implied by shard and resume)
  bool resume = false;        // continue the journal in the work folder
  bool force = false;         // discard an existing journal and start over
  uint64_t part_size = 0;     // source items per part; 0 = 10 000
  std::string pipeline_yaml;  // recorded for `embedflow merge`
  std::vector<std::string> overrides;  // likewise
  bool spooling() const { return resumable || resume || shard.active(); }
};

}  // namespace embedflow::jobs
