// The process's large buffers (128 KiB and more), mapped once and reused.
//
// A run allocates and frees the same large buffers item after item and batch after batch:
// decoded images and audio, batch tensors, model activations. Through glibc they either
// fragment the heap arenas (glibc raises its mmap threshold each time such a block is freed, and
// RSS crept up through long runs: every TBB and OpenMP thread gets an arena) or, below a fixed
// threshold, each is a fresh mapping whose pages the kernel faults in and zeroes again (a text
// pipeline spent a tenth of its CPU time in the kernel). Here a block is mapped once, with
// transparent huge pages where the kernel offers them, and kept for reuse when freed, so the steady
// state maps nothing and RSS stays at the high-water mark of the live buffers plus the cache. The
// cache is bounded (EMBEDFLOW_TENSOR_CACHE_MB, default 1024): beyond it the oldest free blocks are
// unmapped. embedflow::Tensor allocates through it, and so does libtorch once a model is loaded
// (models/tensor_allocator.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace embedflow {

class BlockCache {
 public:
  static constexpr size_t kMinBlock = size_t{128} << 10;  // smaller: the caller's malloc

  // The process's cache; never destroyed (buffers may be freed during static destruction).
  static BlockCache& instance();
  // False in an AddressSanitizer build: there every block is a heap allocation, freed when given
  // back, so that ASan watches large buffers too.
  static bool reuses_blocks();

  // A block of at least n bytes (n ≥ kMinBlock), 4 KiB-aligned; its contents are undefined.
  // Throws std::bad_alloc when the system has no memory for it.
  void* take(size_t n);
  // Gives back a block take() returned and returns true; false (and nothing done) for a pointer
  // that is not one of its live blocks.
  bool give_back(void* p);

  struct Stats {
    size_t live_bytes = 0;    // handed out
    size_t cached_bytes = 0;  // free, kept for reuse
    uint64_t mapped = 0;      // blocks mapped since start: flat once the run is in its steady state
  };
  Stats stats() const;

  explicit BlockCache(size_t cap_bytes);
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

 private:
  struct State;
  State* state_;
};

// EMBEDFLOW_TENSOR_CACHE_MB in bytes (default 1 GiB; 0 disables the cache: every block is
// unmapped when freed).
size_t block_cache_cap_from_env();

}  // namespace embedflow
