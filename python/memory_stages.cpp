#include "python/memory_stages.h"

#include <atomic>
#include <map>
#include <stdexcept>

namespace embedflow::python {

namespace {

std::mutex g_channels_mutex;
std::map<std::string, std::shared_ptr<Channel>>& channels() {
  static std::map<std::string, std::shared_ptr<Channel>> all;
  return all;
}

std::shared_ptr<Channel> find_channel(const Params& params) {
  const std::string name = params.get_string("channel");
  std::lock_guard<std::mutex> lock(g_channels_mutex);
  auto it = channels().find(name);
  if (it == channels().end())
    throw params.error("channel", "no in-memory channel '" + name +
                                      "': memory.source and memory.sink only run inside the "
                                      "embedflow Python module's calls");
  return it->second;
}

StageSchema memory_source_schema() {
  StageSchema s;
  s.type = "memory.source";
  s.kind = StageKind::Source;
  s.output = Kind::Text;
  s.output_for = [](const Params& p) {
    Kind k = Kind::Text;
    kind_from_name(p.get_string("kind"), k);
    return k;
  };
  s.summary = "Items handed over by the Python module (texts, files, images, audio)";
  s.params = {
      ParamSpec::string("channel", std::nullopt).require().describe("The call's channel"),
      ParamSpec::enumeration("kind", "text", {"text", "file", "image", "audio"})
          .describe("What the items hold"),
  };
  return s;
}

StageSchema memory_sink_schema() {
  StageSchema s;
  s.type = "memory.sink";
  s.kind = StageKind::Sink;
  s.inputs = {PortSpec{"in", {}, "Any items", false}};
  s.summary = "Hands every good item back to the Python module, in source order";
  s.params = {
      ParamSpec::string("channel", std::nullopt).require().describe("The call's channel"),
  };
  return s;
}

class MemorySource : public SourceStage {
 public:
  explicit MemorySource(const Params& params) : channel_(find_channel(params)) {}
  bool next(Item& item) override {
    if (next_ >= channel_->inputs.size()) return false;
    // Moved out: each input is emitted once, and the caller keeps no use for it.
    item = std::move(channel_->inputs[next_++]);
    return true;
  }
  std::optional<uint64_t> size_hint() const override { return channel_->inputs.size(); }

 private:
  std::shared_ptr<Channel> channel_;
  size_t next_ = 0;
};

class MemorySink : public SinkStage {
 public:
  explicit MemorySink(const Params& params) : channel_(find_channel(params)) {}
  void write(const Item& item) override {
    std::lock_guard<std::mutex> lock(channel_->mutex);
    channel_->outputs.push_back(item);
  }
  void finish(bool complete) override { (void)complete; }

 private:
  std::shared_ptr<Channel> channel_;
};

}  // namespace

ChannelHandle::ChannelHandle(std::shared_ptr<Channel> channel) {
  static std::atomic<uint64_t> counter{0};
  name_ = "python-" + std::to_string(++counter);
  std::lock_guard<std::mutex> lock(g_channels_mutex);
  channels()[name_] = std::move(channel);
}

ChannelHandle::~ChannelHandle() {
  std::lock_guard<std::mutex> lock(g_channels_mutex);
  channels().erase(name_);
}

void register_memory_stages(Registry& registry) {
  add_stage<MemorySource>(registry, memory_source_schema());
  add_stage<MemorySink>(registry, memory_sink_schema());
}

}  // namespace embedflow::python
