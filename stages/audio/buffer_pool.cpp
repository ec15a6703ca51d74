#include "stages/audio/buffer_pool.h"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace embedflow::audio {

struct BufferPool::State {
  std::mutex mutex;
  size_t max_buffers, max_bytes, idle_bytes = 0;
  std::vector<std::pair<size_t, void*>> idle;  // capacity, storage; most recent last

  ~State() {
    for (auto& [size, p] : idle) std::free(p);
  }
  void give_back(size_t capacity, void* p) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (idle.size() < max_buffers && idle_bytes + capacity <= max_bytes) {
        idle.emplace_back(capacity, p);
        idle_bytes += capacity;
        return;
      }
    }
    std::free(p);
  }
};

BufferPool::BufferPool(size_t max_buffers, size_t max_bytes) : state_(std::make_shared<State>()) {
  state_->max_buffers = max_buffers;
  state_->max_bytes = max_bytes;
}

BufferPool::~BufferPool() = default;

std::shared_ptr<void> BufferPool::get(size_t bytes) {
  // Whole pages, so items of nearly the same length share buffers.
  const size_t want = std::max<size_t>(4096, (bytes + 4095) / 4096 * 4096);
  void* p = nullptr;
  size_t capacity = want;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto& idle = state_->idle;
    // The most recently returned fit (warmest in cache), wasting at most a quarter.
    for (size_t i = idle.size(); i-- > 0;) {
      if (idle[i].first >= want && idle[i].first - want <= want / 4) {
        capacity = idle[i].first;
        p = idle[i].second;
        state_->idle_bytes -= capacity;
        idle.erase(idle.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
  }
  if (!p) {
    p = std::aligned_alloc(64, capacity);
    if (!p) throw std::bad_alloc();
  }
  std::weak_ptr<State> home = state_;
  return std::shared_ptr<void>(p, [home, capacity](void* q) {
    if (auto state = home.lock())
      state->give_back(capacity, q);
    else
      std::free(q);
  });
}

size_t BufferPool::idle_buffers() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->idle.size();
}

}  // namespace embedflow::audio
