// Batch jobs that outlive one process: shards (Slurm job arrays, Kubernetes Indexed Jobs) and
// resumable runs — a layer above the engine (executor.h), which knows nothing of them.
//
// In these modes writers do not write directly: what each writer would be given is spooled
// (spool.h) into numbered part files under the job's work folder, and a journal records which
// source items are complete. The final files are written at the end — by `run_job` after a
// resumable run, by `merge_shards` over all shards — by the writers themselves, fed the spooled
// items in global source order. Parts are ranges of source positions and each part is its own
// batch group (Item::batch_group), so a redone part forms exactly the batches it formed before.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "embedflow/config.h"
#include "embedflow/executor.h"
#include "embedflow/jobs/job_options.h"

namespace embedflow::jobs {

// Runs `config` as the job `job` describes (job.spooling() must be true): refuses reduce stages,
// opens or continues the journal before any stage is opened, runs the pipeline with the source
// and writers wrapped (only this shard's items that are not done yet go in; the writers' items
// go to part files), then writes the shard's _SUCCESS.json, or, for a resumable run, the final
// outputs. Throws std::runtime_error when the job may not start (reduce stages, a journal in
// the way or of another configuration).
RunResult run_job(const PipelineConfig& config, const JobOptions& job, const RunOptions& run);

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
std::string item_fingerprint(const Item& item);

// The folder a job keeps its journal and parts in: OUT/.embedflow, or OUT/shard-I-of-N.
std::string job_dir(const PipelineConfig& config, const ShardSpec& shard);

// Assembles the final outputs of the sinks of `config` from the spooled parts found in
// `part_roots` (one per shard, or the job folder). Returns the files written; adds to
// `rejected` an error record (an errors.jsonl line) for each item a writer rejected, and to
// `written` the items each writer (by stage id) took.
std::vector<std::string> assemble_outputs(const PipelineConfig& config,
                                          const std::vector<std::string>& part_roots,
                                          std::vector<std::string>* rejected = nullptr,
                                          std::map<std::string, uint64_t>* written = nullptr);

// Writes errors.jsonl lines to `path` atomically, ordered by source position (records of one
// position keep their order); lines that are not JSON objects (cut by a kill) are dropped. With
// no records, an earlier file at `path` is removed. Returns the number written.
size_t write_error_records(const std::string& path, std::vector<std::string> records);

// The writers of `config` with their resolved parameters, recorded in each shard's
// _SUCCESS.json so that a merge writes exactly what the shards were configured to write.
Json sink_manifest(const PipelineConfig& config);

// `embedflow merge OUT`: checks that every shard completed (naming the missing ones), then
// writes the same files a single-process run writes. Returns the exit code (0 ok, 1 missing or
// failed shards).
int merge_shards(const std::string& out_dir, const Registry& registry, std::ostream& report);

}  // namespace embedflow::jobs
