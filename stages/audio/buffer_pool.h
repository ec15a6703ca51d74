// Recycled output storage for the audio stages.
//
// A spectrogram of a 10 s clip is 512 KB: malloc serves that size from fresh pages (mmap or
// heap growth after a trim), so every item pays page faults and the kernel's zeroing before
// the stage writes a value. Items of a stream have similar sizes and die soon after (a writer
// consumes them), so their buffers are kept here and handed to the next item instead.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace embedflow::audio {

class BufferPool {
 public:
  // Keeps at most `max_buffers` idle buffers and `max_bytes` of idle storage.
  BufferPool(size_t max_buffers, size_t max_bytes);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // Uninitialised 64-byte aligned storage of at least `bytes`. When its last owner lets go the
  // buffer comes back here (or is freed when the pool is full or gone). Thread-safe.
  std::shared_ptr<void> get(size_t bytes);

  size_t idle_buffers() const;  // for tests

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace embedflow::audio
