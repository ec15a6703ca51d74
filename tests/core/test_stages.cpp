#include "tests/core/test_stages.h"

namespace embedflow::test {

Observed& observed() {
  static Observed o;
  return o;
}

namespace {
void note_max(std::atomic<int>& value, std::atomic<int>& max) {
  int now = ++value;
  int m = max.load();
  while (now > m && !max.compare_exchange_weak(m, now)) {
  }
}
}  // namespace

bool CountingSource::next(Item& item) {
  if (i_ >= count_) return false;
  item.id = std::to_string(i_);
  item.source = label_;
  item.kind = Kind::Text;
  item.text = "item-" + std::to_string(i_);
  note_max(observed().live_payloads, observed().max_live_payloads);
  void* mem = ::operator new(1024);
  std::shared_ptr<void> owner(mem, [](void* p) {
    ::operator delete(p);
    --observed().live_payloads;
  });
  item.tensor = Tensor(DType::U8, {1024}, owner, mem);
  ++i_;
  return true;
}

void WorkStage::process(const Item& in, Item& out) {
  note_max(observed().running, observed().max_running);
  struct Leave {
    ~Leave() { --observed().running; }
  } leave;
  if (max_us_ > 0) {
    std::mt19937 rng(static_cast<unsigned>(in.index * 2654435761u));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % static_cast<unsigned>(max_us_)));
  }
  if (fail_every_ > 0 && in.index % static_cast<uint64_t>(fail_every_) == 0)
    throw ItemFailure("refusing item " + in.id);
  out.kind = Kind::Text;
  out.text = in.text + "!";
  out.tensor = in.tensor;  // keep the counted payload alive along the pipeline
}

void RecordingBatch::process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) {
  {
    std::lock_guard<std::mutex> lock(observed().mu);
    observed().batch_sizes.push_back(in.size());
  }
  for (size_t i = 0; i < in.size(); ++i) {
    out[i].kind = Kind::Text;
    out[i].text = in[i]->text + "#";
  }
}

void ModelLikeBatch::process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) {
  note_max(observed().running, observed().max_running);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  --observed().running;
  for (size_t i = 0; i < in.size(); ++i) {
    out[i].kind = Kind::Text;
    out[i].text = in[i]->text;
  }
}

void CollectSink::write(const Item& item) {
  std::lock_guard<std::mutex> lock(observed().mu);
  observed().written_ids.push_back(item.id);
  observed().written_text.push_back(item.text);
}

void CollectSink::finish(bool complete) {
  std::lock_guard<std::mutex> lock(observed().mu);
  observed().finished = true;
  observed().finished_complete = complete;
}

void PairReducer::consume(size_t port, const Item& item) {
  (port == 0 ? a_ : b_).push_back(item.text);
  std::lock_guard<std::mutex> lock(observed().mu);
  observed().reduced.emplace_back(port, item.id);
}

bool PairReducer::next(Item& item) {
  if (i_ >= std::min(a_.size(), b_.size())) return false;
  item.id = "pair-" + std::to_string(i_);
  item.kind = Kind::Text;
  item.text = a_[i_] + "+" + b_[i_];
  ++i_;
  return true;
}

void register_test_stages(Registry& reg) {
  {
    StageSchema s;
    s.type = "test.source";
    s.kind = StageKind::Source;
    s.summary = "counting source";
    s.output = Kind::Text;
    s.params = {ParamSpec::integer("count", 10).range(0, 100000000).describe("items"),
                ParamSpec::string("label", "counter").describe("item.source of every item")};
    add_stage<CountingSource>(reg, s);
  }
  {
    StageSchema s;
    s.type = "test.work";
    s.kind = StageKind::Map;
    s.summary = "delay and maybe fail";
    s.inputs = {PortSpec{"in", {Kind::Text}, "text", false}};
    s.output = Kind::Text;
    s.default_concurrency = 0;
    s.params = {ParamSpec::integer("max_delay_us", 0).range(0, 1000000),
                ParamSpec::integer("fail_every", 0).range(0, 1000000)};
    add_stage<WorkStage>(reg, s);
  }
  {
    StageSchema s;
    s.type = "test.batch";
    s.kind = StageKind::Batch;
    s.summary = "records batch sizes";
    s.inputs = {PortSpec{"in", {Kind::Text}, "text", false}};
    s.output = Kind::Text;
    s.default_concurrency = 1;
    s.default_batch_size = 4;
    add_stage<RecordingBatch>(reg, s);
  }
  {
    StageSchema s;
    s.type = "test.model";
    s.kind = StageKind::Batch;
    s.summary = "a model's share of the threads";
    s.inputs = {PortSpec{"in", {Kind::Text}, "text", false}};
    s.output = Kind::Text;
    s.default_concurrency = 1;
    s.default_batch_size = 4;
    s.uses_model_threads = true;
    add_stage<ModelLikeBatch>(reg, s);
  }
  {
    StageSchema s;
    s.type = "test.collect";
    s.kind = StageKind::Sink;
    s.summary = "records items";
    s.inputs = {PortSpec{"in", {}, "any", false}};
    s.default_concurrency = 1;
    add_stage<CollectSink>(reg, s);
  }
  {
    StageSchema s;
    s.type = "test.pair";
    s.kind = StageKind::Reduce;
    s.summary = "pairs two streams";
    s.inputs = {PortSpec{"a", {Kind::Text}, "", false}, PortSpec{"b", {Kind::Text}, "", true}};
    s.output = Kind::Text;
    s.default_concurrency = 1;
    add_stage<PairReducer>(reg, s);
  }
  {
    // A pass-through: output None means "what it is given".
    StageSchema s;
    s.type = "test.pass";
    s.kind = StageKind::Map;
    s.summary = "passes items on";
    s.inputs = {PortSpec{"in", {}, "any", false}};
    s.output = Kind::None;
    reg.add(s, [](const Params&) -> std::unique_ptr<Stage> { return nullptr; });
  }
  {
    StageSchema s;
    s.type = "test.params";
    s.kind = StageKind::Map;
    s.summary = "every parameter type";
    s.inputs = {PortSpec{"in", {Kind::Audio}, "audio only", false}};
    s.output = Kind::Spectrogram;
    s.max_concurrency = 4;
    s.params = {
        ParamSpec::integer("n_fft", 400).range(16, 65536).describe("FFT size"),
        ParamSpec::number("power", 2.0).range(0.5, 2.0),
        ParamSpec::boolean("center", true),
        ParamSpec::enumeration("window", "hann", {"hann", "hamming", "blackman"}),
        ParamSpec::string("model", std::nullopt).require().describe("model folder"),
        ParamSpec::strings("extensions"),
        ParamSpec::block("mel", {ParamSpec::integer("n_mels", 128).range(1, 1024),
                                 ParamSpec::enumeration("scale", "htk", {"htk", "slaney"})}),
    };
    reg.add(s, [](const Params&) -> std::unique_ptr<Stage> { return nullptr; });
  }
}

}  // namespace embedflow::test
