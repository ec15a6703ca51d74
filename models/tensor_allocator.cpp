// libtorch's CPU allocator for tensors of 128 KiB and more: the engine's block cache
// (embedflow/block_cache.h), so a forward pass's activations, batch after batch, reuse the
// blocks the previous batch freed and the ones embedflow::Tensor uses, within one bound
// (EMBEDFLOW_TENSOR_CACHE_MB). Smaller tensors go to c10's own allocation functions.
#include <mutex>
#include <string>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include "embedflow/block_cache.h"
#include "models/torch_runtime.h"

namespace embedflow::models {
namespace {

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    void* p = n < BlockCache::kMinBlock ? c10::alloc_cpu(n) : BlockCache::instance().take(n);
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  // Called for every pointer this allocator handed out (DataPtr deleter and raw_deallocate).
  static void release(void* p) {
    if (p && !BlockCache::instance().give_back(p)) c10::free_cpu(p);
  }
};

}  // namespace

void use_caching_tensor_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (block_cache_cap_from_env() == 0) return;  // 0: libtorch's own allocator
    // Never destroyed: tensors may still be freed during static destruction. Tensors allocated
    // before keep their own deleter; only new ones come from here.
    static auto* allocator = new CachingCpuAllocator();
    c10::SetCPUAllocator(allocator, /*priority=*/1);
  });
}

}  // namespace embedflow::models
