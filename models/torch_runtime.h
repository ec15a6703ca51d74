// Thread sizing for libtorch, callable from torch-free code.
#pragma once

#include <string>

namespace embedflow::models {

// libtorch's OpenMP intra-op thread count is a per-thread setting: call this on the thread that
// runs the forward pass (a TBB worker) right before it.
void set_intra_op_threads(int n);
int intra_op_threads();
// "libtorch 1.13.1, OpenMP 4.5, BLAS: openblas (…)", for benchmarks and `embedflow --version`.
std::string torch_build_summary();

}  // namespace embedflow::models
