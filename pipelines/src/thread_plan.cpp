#include "embedflow/thread_plan.h"

#include <algorithm>

namespace embedflow {

ModelStagePlan plan_model_stage(int share, int explicit_concurrency, int threads_param,
                                int max_concurrency) {
  share = std::max(1, share);
  ModelStagePlan plan;
  if (explicit_concurrency < 0)
    plan.concurrency = std::max(1, share / (threads_param > 0 ? threads_param : 1));
  else  // unlimited: as many calls as there are threads for them
    plan.concurrency = explicit_concurrency == 0 ? share : explicit_concurrency;
  if (max_concurrency > 0) plan.concurrency = std::min(plan.concurrency, max_concurrency);
  plan.intra_op_threads = threads_param > 0 ? threads_param : std::max(1, share / plan.concurrency);
  return plan;
}

}  // namespace embedflow
