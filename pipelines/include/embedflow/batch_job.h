// Batch jobs that outlive one process: shards (Slurm job arrays, Kubernetes Indexed Jobs) and
// resumable runs.
//
// In these modes writers do not write directly: what each writer would be given is spooled
// (spool.h) into numbered part files under the job's work folder, and a journal records which
// source items are complete. The final files are written at the end — by `assemble` after a
// resumable run, by `merge_shards` over all shards — by the writers themselves, fed the spooled
// items in global source order. Parts are ranges of source positions, and batches never cross
// a part boundary, so a redone part forms exactly the batches an uninterrupted run formed.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "embedflow/config.h"
#include "embedflow/job_options.h"
#include "embedflow/run_identity.h"

namespace embedflow {

// "I/N" → spec; throws ConfigError-free std::invalid_argument with a readable message.
ShardSpec parse_shard(const std::string& text);
// SLURM_ARRAY_TASK_ID/_COUNT/_MIN, or JOB_COMPLETION_INDEX with `num_shards` (> 0).
std::optional<ShardSpec> shard_from_environment(int num_shards);
// FNV-1a 64 of the item id: stable across machines, runs and listing orders.
uint64_t stable_id_hash(const std::string& id);
inline bool in_shard(const std::string& id, const ShardSpec& s) {
  return !s.active() ||
         stable_id_hash(id) % static_cast<uint64_t>(s.count) == static_cast<uint64_t>(s.index);
}


// What identifies a completed item in the journal: its id and its content (text, or the file's
// path, size and modification time).
std::string item_fingerprint(const struct Item& item);

// The folder a job keeps its journal and parts in: OUT/.embedflow, or OUT/shard-I-of-N.
std::string job_dir(const PipelineConfig& config, const ShardSpec& shard);

// Assembles the final outputs of the sinks of `config` from the spooled parts found in
// `part_roots` (one per shard, or the job folder). Returns the files written.
std::vector<std::string> assemble_outputs(const PipelineConfig& config,
                                          const std::vector<std::string>& part_roots);

// The writers of `config` with their resolved parameters, recorded in each shard's
// _SUCCESS.json so that a merge writes exactly what the shards were configured to write.
Json sink_manifest(const PipelineConfig& config);

// `embedflow merge OUT`: checks that every shard completed (naming the missing ones), then
// writes the same files a single-process run writes. Returns the exit code (0 ok, 1 missing or
// failed shards).
int merge_shards(const std::string& out_dir, const Registry& registry, std::ostream& report);

}  // namespace embedflow
