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

void run_on_intra_op_threads(int n, const std::function<void(int)>& fn) {
  set_intra_op_threads(n);
  // One worker index per chunk: each runs on a thread of its own (nested parallel loops,
  // libtorch's and the BLAS's, see they are inside a parallel region and stay serial).
  at::parallel_for(0, n, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) fn(static_cast<int>(w));
  });
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
