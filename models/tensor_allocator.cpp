// A caching CPU allocator for libtorch tensors of 128 KiB and more.
//
// A forward pass allocates and frees the same large activations batch after batch. Through
// glibc they either fragment the heap arenas (RSS grew without bound in long audio-to-embedding
// runs: TBB and OpenMP threads each get an arena) or, with a low mmap threshold, each one is a
// fresh mapping whose pages the kernel faults in and zeroes again (a resnet18 pipeline ran 40%
// slower that way). Here large blocks are mapped once, with transparent huge pages where the
// kernel offers them, and kept for reuse when freed: the steady state allocates nothing. The
// cache is bounded (EMBEDFLOW_TENSOR_CACHE_MB, default 1024); beyond it the oldest free blocks
// are unmapped. Smaller tensors go to c10's own allocation functions, as before.
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include "models/torch_runtime.h"

namespace embedflow::models {
namespace {

constexpr size_t kMinCached = size_t{128} << 10;  // smaller blocks: c10::alloc_cpu
constexpr size_t kGranule = size_t{64} << 10;     // sizes round up to this
constexpr size_t kHugePage = size_t{2} << 20;

size_t cache_cap_bytes() {
  const char* env = std::getenv("EMBEDFLOW_TENSOR_CACHE_MB");
  if (env && *env) {
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(env, &end, 10);
    if (end && *end == '\0') return static_cast<size_t>(mb) << 20;
  }
  return size_t{1024} << 20;
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  CachingCpuAllocator() : cap_(cache_cap_bytes()) {}

  c10::DataPtr allocate(size_t n) const override {
    void* p = n < kMinCached ? c10::alloc_cpu(n) : take(n);
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  struct Free {
    void* ptr;
    uint64_t age;
  };

  void* take(size_t n) const {
    const size_t size = (n + kGranule - 1) / kGranule * kGranule;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // The smallest free block that fits, unless it wastes more than an eighth of itself.
      auto it = free_by_size_.lower_bound(size);
      if (it != free_by_size_.end() && it->first - it->first / 8 <= size) {
        void* p = it->second.ptr;
        by_age_.erase(it->second.age);
        cached_ -= it->first;
        live_[p] = it->first;
        free_by_size_.erase(it);
        return p;
      }
    }
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (size >= kHugePage) madvise(p, size, MADV_HUGEPAGE);  // fewer faults; advisory only
    std::lock_guard<std::mutex> lock(mu_);
    live_[p] = size;
    return p;
  }

  // Called for every pointer this allocator handed out (DataPtr deleter and raw_deallocate).
  void give_back(void* p) const {
    std::unique_lock<std::mutex> lock(mu_);
    auto live = live_.find(p);
    if (live == live_.end()) {
      lock.unlock();
      c10::free_cpu(p);
      return;
    }
    const size_t size = live->second;
    live_.erase(live);
    auto it = free_by_size_.emplace(size, Free{p, next_age_});
    by_age_.emplace(next_age_++, it);
    cached_ += size;
    std::vector<std::pair<void*, size_t>> unmap;
    while (cached_ > cap_ && !by_age_.empty()) {
      auto oldest = by_age_.begin();
      auto block = oldest->second;
      unmap.emplace_back(block->second.ptr, block->first);
      cached_ -= block->first;
      free_by_size_.erase(block);
      by_age_.erase(oldest);
    }
    lock.unlock();
    for (auto& [q, s] : unmap) munmap(q, s);
  }

  static void release(void* p);

  const size_t cap_;
  mutable std::mutex mu_;
  mutable std::unordered_map<void*, size_t> live_;
  mutable std::multimap<size_t, Free> free_by_size_;
  mutable std::map<uint64_t, std::multimap<size_t, Free>::iterator> by_age_;
  mutable size_t cached_ = 0;
  mutable uint64_t next_age_ = 0;
};

// Never destroyed: tensors may still be freed during static destruction.
CachingCpuAllocator& the_allocator() {
  static auto* a = new CachingCpuAllocator();
  return *a;
}

void CachingCpuAllocator::release(void* p) {
  if (p) the_allocator().give_back(p);
}

}  // namespace

void use_caching_tensor_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* off = std::getenv("EMBEDFLOW_TENSOR_CACHE_MB"); off && std::string(off) == "0")
      return;  // 0: libtorch's own allocator
    // Tensors allocated before keep their own deleter; only new ones come from here.
    c10::SetCPUAllocator(&the_allocator(), /*priority=*/1);
  });
}

}  // namespace embedflow::models
