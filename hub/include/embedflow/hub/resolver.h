// The hub's answer to the engine's question "which local files does this model value mean?"
// (run identities: a job's journal, a golden's manifest).
#pragma once

#include "embedflow/run_identity.h"

namespace embedflow::hub {

// A pipeline's model value — a path, or a hub id `org/name[@revision]` — to the local file or
// folder it loads (resolve_model_path), or "" when it cannot be resolved here (not cached, not a
// valid id). Never touches the network.
ModelResolver model_resolver();

}  // namespace embedflow::hub
