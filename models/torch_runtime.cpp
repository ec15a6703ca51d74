#include "models/torch_runtime.h"

#include <fstream>

#include <torch/torch.h>

namespace embedflow::models {

void set_intra_op_threads(int n) {
  if (n < 1) n = 1;
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

int intra_op_threads() {
  return at::get_num_threads();
}

std::string blas_library_in_use() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    if (path.find("libblas") != std::string::npos || path.find("libopenblas") != std::string::npos)
      return path;
  }
  return "unknown";
}

std::string torch_build_summary() {
  return std::string("libtorch ") + TORCH_VERSION +
         " (intra-op: OpenMP), BLAS: " + blas_library_in_use();
}

}  // namespace embedflow::models
