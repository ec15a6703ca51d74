#include "stages/aggregate/register.h"

#include "stages/aggregate/mean.h"

namespace embedflow {

void register_aggregate_stages(Registry& registry) {
  add_stage<AggregateMeanStage>(registry, aggregate_mean_schema());
}

}  // namespace embedflow
