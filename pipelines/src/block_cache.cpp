#include "embedflow/block_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

// Under AddressSanitizer every block is an ordinary heap allocation, freed when given back: ASan
// watches malloc'ed memory only, and an overflow of a decoded image or audio buffer must not
// go unseen in the sanitizer and fuzz builds because the buffer came from mmap.
#if defined(__SANITIZE_ADDRESS__)
#define EMBEDFLOW_BLOCKS_ON_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBEDFLOW_BLOCKS_ON_HEAP 1
#endif
#endif
#ifndef EMBEDFLOW_BLOCKS_ON_HEAP
#define EMBEDFLOW_BLOCKS_ON_HEAP 0
#endif

namespace embedflow {

namespace {

constexpr bool kBlocksOnHeap = EMBEDFLOW_BLOCKS_ON_HEAP;

void* map_block(size_t size) {
  if (kBlocksOnHeap) {
    void* p = std::aligned_alloc(4096, size);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (size >= (size_t{2} << 20)) madvise(p, size, MADV_HUGEPAGE);  // fewer faults; advisory
  return p;
}

void unmap_block(void* p, size_t size) {
  if (kBlocksOnHeap)
    std::free(p);
  else
    munmap(p, size);
}

constexpr size_t kGranule = size_t{64} << 10;  // sizes round up to this

struct Free {
  void* ptr;
  uint64_t age;
};

}  // namespace

struct BlockCache::State {
  size_t cap;
  mutable std::mutex mu;
  std::unordered_map<void*, size_t> live;
  std::multimap<size_t, Free> free_by_size;
  std::map<uint64_t, std::multimap<size_t, Free>::iterator> by_age;
  size_t live_bytes = 0;
  size_t cached = 0;
  uint64_t next_age = 0;
  uint64_t mapped = 0;
};

size_t block_cache_cap_from_env() {
  const char* env = std::getenv("EMBEDFLOW_TENSOR_CACHE_MB");
  if (env && *env) {
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(env, &end, 10);
    if (end && *end == '\0') return static_cast<size_t>(mb) << 20;
  }
  return size_t{1024} << 20;
}

BlockCache& BlockCache::instance() {
  static auto* cache = new BlockCache(block_cache_cap_from_env());
  return *cache;
}

bool BlockCache::reuses_blocks() {
  return !kBlocksOnHeap;
}

BlockCache::BlockCache(size_t cap_bytes) : state_(new State) {
  state_->cap = kBlocksOnHeap ? 0 : cap_bytes;
}

BlockCache::~BlockCache() {
  for (auto& [size, f] : state_->free_by_size) unmap_block(f.ptr, size);
  delete state_;
}

void* BlockCache::take(size_t n) {
  const size_t size = (std::max(n, kMinBlock) + kGranule - 1) / kGranule * kGranule;
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    // The smallest free block that fits, unless it wastes more than an eighth of itself.
    auto it = s.free_by_size.lower_bound(size);
    if (it != s.free_by_size.end() && it->first - it->first / 8 <= size) {
      void* p = it->second.ptr;
      s.by_age.erase(it->second.age);
      s.cached -= it->first;
      s.live[p] = it->first;
      s.live_bytes += it->first;
      s.free_by_size.erase(it);
      return p;
    }
  }
  void* p = map_block(size);
  std::lock_guard<std::mutex> lock(s.mu);
  s.live[p] = size;
  s.live_bytes += size;
  ++s.mapped;
  return p;
}

bool BlockCache::give_back(void* p) {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  auto live = s.live.find(p);
  if (live == s.live.end()) return false;
  const size_t size = live->second;
  s.live.erase(live);
  s.live_bytes -= size;
  auto it = s.free_by_size.emplace(size, Free{p, s.next_age});
  s.by_age.emplace(s.next_age++, it);
  s.cached += size;
  std::vector<std::pair<void*, size_t>> unmap;
  while (s.cached > s.cap && !s.by_age.empty()) {
    auto oldest = s.by_age.begin();
    auto block = oldest->second;
    unmap.emplace_back(block->second.ptr, block->first);
    s.cached -= block->first;
    s.free_by_size.erase(block);
    s.by_age.erase(oldest);
  }
  lock.unlock();
  for (auto& [q, n] : unmap) unmap_block(q, n);
  return true;
}

BlockCache::Stats BlockCache::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return {state_->live_bytes, state_->cached, state_->mapped};
}

}  // namespace embedflow
