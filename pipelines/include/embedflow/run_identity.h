// What identifies a run's results: the validated configuration and the model files it reads.
// Batch jobs record it in their journal (a resumed run must be the same job) and regression
// tests in their golden manifest (a drift is explained by a changed parameter or model file).
// One definition for both, so a job and a golden agree on what "the same pipeline" means.
#pragma once

#include <functional>
#include <string>

#include "embedflow/config.h"

namespace embedflow {

// Maps what a user wrote for a model (a path, or a hub id such as `org/name@rev`) to the local
// file or folder it means, or "" when it is not on this machine. The hub library provides the
// one that resolves hub ids through the cache to the snapshot folder; without one, a value is
// taken as a path.
using ModelResolver = std::function<std::string(const std::string& spec)>;

// sha256 of the canonical JSON of the validated stages (id, type, inputs, params after `${VAR}`
// and `--set`, tap) in file order. Stages that a layer above added (StageConfig::generated) are
// left out: they follow from the others.
std::string config_hash(const PipelineConfig& config);

// {"<stage>.<param>": {"path": as written, "resolved": local path (when it differs), "files":
// {"<file relative to the model>": sha256}}} for every parameter whose schema role is Model
// (inside blocks too: "<stage>.<block>.<param>"). A folder contributes the files that define a
// model: weights (*.safetensors, *.pt, *.ts, *.bin), configs (*.json), vocabularies (*.txt,
// *.model). A model that is not on this machine is recorded with "missing": true.
Json model_hashes(const PipelineConfig& config, const ModelResolver& resolve = {});

struct RunIdentity {
  std::string config_hash;
  Json models;
  Json to_json() const { return {{"config_hash", config_hash}, {"models", models}}; }
};
RunIdentity run_identity(const PipelineConfig& config, const ModelResolver& resolve = {});

}  // namespace embedflow
