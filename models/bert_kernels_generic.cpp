// The BERT kernels for any x86-64 CPU, and the run-time choice between the builds.
#include <cstdlib>
#include <cstring>

#include "models/bert_kernels_impl.h"

namespace embedflow::models::bert_kernels {

const Kernels& generic_kernels() {
  static const Kernels k{"generic",      bias_activation,  residual_layernorm,
                         attention_head, quantize_rows_u7, dequantize_rows};
  return k;
}

const Kernels& best_kernels() {
  static const Kernels& k = [&]() -> const Kernels& {
    const char* force = std::getenv("EMBEDFLOW_KERNELS");
    if (force && std::strcmp(force, "generic") == 0) return generic_kernels();
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2_kernels();
#endif
    return generic_kernels();
  }();
  return k;
}

}  // namespace embedflow::models::bert_kernels
