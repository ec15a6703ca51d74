#include "models/torch_runtime.h"

#include <torch/torch.h>

namespace embedflow::models {

void set_intra_op_threads(int n) {
  if (n < 1) n = 1;
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

int intra_op_threads() { return at::get_num_threads(); }

std::string torch_build_summary() {
  return "libtorch " TORCH_VERSION ", " + at::get_parallel_info();
}

}  // namespace embedflow::models
