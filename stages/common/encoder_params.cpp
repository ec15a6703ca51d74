#include "stages/common/encoder_params.h"

namespace embedflow {

ParamSpec precision_param(const std::string& scope) {
  return ParamSpec::enumeration("precision", "fp32", {"fp32", "int8", "bf16"})
      .describe(
          "fp32: exact. int8: dynamic quantisation of the Linear layers (per-channel int8 "
          "weights, per-token activations; fastest). bf16: bfloat16 weights and "
          "activations, fp32 sums; fast on CPUs with AMX, elsewhere run at fp32 speed with "
          "bf16's results. bench/peers prints both's fidelity against fp32. " +
          scope);
}

}  // namespace embedflow
