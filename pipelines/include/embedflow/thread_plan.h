// How a run spends its `threads` on its model stages: how many batches each runs at once
// (the node's concurrency) and how many intra-op threads each of those calls uses.
//
// The flow graph's workers are the only threads the run keeps busy: a model call runs on the
// worker that took the batch, and its intra-op team (libtorch's OpenMP, the GEMMs) is made of
// that worker plus `intra_op_threads - 1` more. With `concurrency × intra_op_threads` equal to
// the stage's share of `threads`, decoding and tokenising get cores back whenever a call ends,
// and no team spins while workers wait for it.
#pragma once

namespace embedflow {

struct ModelStagePlan {
  int concurrency = 1;       // batches in the model at once (never 0 = unlimited here)
  int intra_op_threads = 1;  // threads each model call may use
};

// share: the stage's part of the run's threads (threads ÷ model stages, at least 1).
// explicit_concurrency: the stage's `concurrency` when the pipeline file or --set gives one
// (0 = unlimited), else negative. threads_param: the stage's `threads` param (0 = not given).
//
// Unless told otherwise the plan is batches side by side: `share` concurrent calls of one
// thread each. A forward pass split over a team waits at a barrier after every layer, and any
// core the rest of the pipeline (or another process) takes stalls the whole team; single-
// threaded calls never wait for each other, and on the bench sentences they add up to more
// than one call spread over the same threads (bench/text). A given `concurrency: C` takes
// share ÷ C threads per call (so `concurrency: 1` is one batch at a time on every thread, the
// lowest latency); a given `threads` is used as it is. max_concurrency: the stage type's limit
// (StageSchema::max_concurrency, 0 = none); a plan never exceeds it, and the threads a limit
// leaves over go to each call.
ModelStagePlan plan_model_stage(int share, int explicit_concurrency, int threads_param,
                                int max_concurrency = 0);

}  // namespace embedflow
