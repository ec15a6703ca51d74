// Checks a validated pipeline against the machine before anything runs, so that `validate`
// rejects what `run` would reject at once and a run never starts work it cannot finish:
//   - every stage is constructed (its constructor checks parameter combinations, e.g. write.npy's
//     `per_item: true` without `dir`), without opening it (no model is loaded);
//   - input paths exist; model paths exist or resolve (through the hub cache);
//   - output paths are absent or regular files (a writer replaces its file atomically, and would
//     otherwise destroy a device node, a FIFO or a symlink standing there), output folders are
//     absent or folders, and no two writers share an output path.
#pragma once

#include <functional>
#include <string>

#include "embedflow/config.h"
#include "embedflow/run_identity.h"

namespace embedflow {

// What to tell a user whose model is neither here nor in the hub cache, beyond that (the CLI
// names the offline models it can find); "" for nothing.
using MissingModelHint = std::function<std::string(const std::string& model)>;

// Throws ConfigError with every problem found, each located at the parameter that names it.
// `resolve_model` maps a model value to a local path ("" when it cannot); without one, a model
// value is taken as a path.
void preflight(const PipelineConfig& config, const ModelResolver& resolve_model = {},
               const MissingModelHint& missing_model_hint = {});

}  // namespace embedflow
