// In-memory ends of a pipeline, for the Python module: `memory.source` emits items the caller
// prepared (texts, file paths, RGB arrays, waveforms) and `memory.sink` hands every good item
// back, so that encode_text(…) runs the same engine and stages as `embedflow run` without
// writing its inputs or outputs to files. They are registered in the module's own registry
// only: a pipeline file cannot name them, and docs/stages.md does not list them.
//
// A call creates a Channel, registers it under a fresh name, and writes that name into the
// `channel` parameter of both stages; the stages find it when the pipeline constructs them.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "embedflow/registry.h"

namespace embedflow::python {

struct Channel {
  std::vector<Item> inputs;  // what memory.source emits, in order

  std::mutex mutex;  // memory.sink writes from the engine's thread
  std::vector<Item> outputs;
};

// Registers `channel` for the lifetime of the returned handle; its name is the `channel` param.
class ChannelHandle {
 public:
  explicit ChannelHandle(std::shared_ptr<Channel> channel);
  ~ChannelHandle();
  ChannelHandle(const ChannelHandle&) = delete;
  ChannelHandle& operator=(const ChannelHandle&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

void register_memory_stages(Registry& registry);

}  // namespace embedflow::python
