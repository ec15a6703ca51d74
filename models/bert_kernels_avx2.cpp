// The BERT kernels built for AVX2 + FMA (this file is compiled with -mavx2 -mfma).
#include "models/bert_kernels_impl.h"

namespace embedflow::models::bert_kernels {

const Kernels& avx2_kernels() {
  static const Kernels k{"avx2",         bias_activation,  residual_layernorm,
                         attention_head, quantize_rows_u7, dequantize_rows};
  return k;
}

}  // namespace embedflow::models::bert_kernels
