// What every oneDNN primitive of the models library needs around it: the CPU engine, weights
// reordered once into the layout a primitive asked for, and execution on the calling thread's
// stream with a user scratchpad (a per-thread buffer that only grows, so concurrent calls of one
// primitive never share it). Used by transformer/packed_matmul.cpp and dnnl_conv.cpp.
//
// Includes oneDNN's C++ API: only .cpp files built with libdnnl-dev include this.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace embedflow::models::onednn {

inline const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// A copy of `plain` (data in a plain layout, not owned) in the layout `packed` describes.
inline dnnl::memory packed_copy(const dnnl::memory::desc& plain_md, const void* plain,
                                const dnnl::memory::desc& packed) {
  const dnnl::memory from(plain_md, cpu_engine(), const_cast<void*>(plain));
  dnnl::memory to(packed, cpu_engine());
  dnnl::stream stream(cpu_engine());
  dnnl::reorder(from, to).execute(stream, const_cast<dnnl::memory&>(from), to);
  stream.wait();
  return to;
}

// Runs `primitive` with `args`, adding the scratchpad `scratchpad` describes.
inline void execute(const dnnl::primitive& primitive, std::unordered_map<int, dnnl::memory> args,
                    const dnnl::memory::desc& scratchpad) {
  thread_local std::vector<uint8_t> buffer;
  const size_t bytes = scratchpad.get_size();
  if (buffer.size() < bytes) buffer.resize(bytes);
  thread_local dnnl::stream stream(cpu_engine());
  if (bytes > 0)
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(scratchpad, cpu_engine(), buffer.data()));
  primitive.execute(stream, args);
  stream.wait();
}

}  // namespace embedflow::models::onednn
