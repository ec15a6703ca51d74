// `embedflow slurm` and `embedflow k8s`: run a pipeline as N shards on a batch scheduler.
//
//   embedflow slurm PIPELINE.yaml --shards N [--partition P] [--time T] [--cpus-per-task C]
//                   [--mem M] [--account A] [--set k=v]... [--dry-run] [--wait]
//   embedflow k8s PIPELINE.yaml --shards N --image IMAGE [--cpus C] [--memory M] [--pvc NAME]
//
// Each shard is an `embedflow run PIPELINE --shard I/N`; `embedflow merge OUT` assembles the
// outputs a single-process run would have written (docs/scale.md).
#pragma once

#include "apps/embedflow/commands.h"

namespace embedflow {

void add_cluster_commands(CLI::App& app, cli::CommandList& commands, const Registry& registry);

}  // namespace embedflow
