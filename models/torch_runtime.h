// Thread sizing for libtorch, callable from torch-free code.
#pragma once

#include <functional>
#include <string>

namespace embedflow::models {

// libtorch's OpenMP intra-op thread count is a per-thread setting: call this on the thread that
// runs the forward pass (a TBB worker) right before it.
void set_intra_op_threads(int n);
int intra_op_threads();
// Runs fn(worker) for worker = 0 … n − 1, all at once on n intra-op threads, for work the
// caller splits itself (whole batches per thread); inside fn, libtorch's parallel loops and
// the GEMMs run on fn's thread alone. The first exception thrown by an fn is rethrown.
void run_on_intra_op_threads(int n, const std::function<void(int)>& fn);
// "libtorch 1.13.0 (OpenMP), BLAS: /usr/lib/…/openblas-openmp/libblas.so.3", for benchmarks and
// `embedflow --version`.
std::string torch_build_summary();
// The BLAS shared library mapped into this process (the Debian alternative libtorch resolved):
// reference BLAS is ~30x slower than OpenBLAS for the GEMMs every model here runs.
std::string blas_library_in_use();
// Routes libtorch's CPU tensors of 128 KiB and more through a bounded cache of mapped blocks
// (tensor_allocator.cpp): the activations of batch after batch reuse memory instead of
// fragmenting the heap or faulting fresh pages in. Idempotent; every model loader calls it.
// EMBEDFLOW_TENSOR_CACHE_MB sets the cache bound (default 1024; 0 keeps libtorch's allocator).
void use_caching_tensor_allocator();

}  // namespace embedflow::models
