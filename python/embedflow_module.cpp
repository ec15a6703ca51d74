// The `embedflow` Python module: sentence-transformers' three lines on embedflow's engine.
//
//   import embedflow
//   e = embedflow.encode_text("all-MiniLM-L6-v2", ["The cat sits.", "A dog runs."])
//   print(embedflow.similarity(e, e))
//
// Every encode_* call builds the pipeline a user would write in YAML (the encoder stage picked
// as `embedflow embed` picks it, its parameters from the keyword arguments) with an in-memory
// source and sink at its ends (memory_stages.h), validates it like a pipeline file, and runs it
// with run_pipeline with the GIL released. Configuration errors become ValueError with the
// engine's message; failed items a RuntimeError listing them.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>

#include "embedflow/errors.h"
#include "embedflow/executor.h"
#include "embedflow/hub/resolver.h"
#include "embedflow/npy.h"
#include "embedflow/preflight.h"
#include "embedflow/regression/settings.h"
#include "models/model_path.h"
#include "python/memory_stages.h"
#include "stages/builtin.h"

namespace py = pybind11;
namespace fs = std::filesystem;

namespace embedflow::python {

namespace {

const Registry& registry() {
  static const Registry instance = [] {
    Registry r;
    register_builtin_stages(r);
    // Pipeline files with a `test:` section (configs/*.yaml) load as with `embedflow run`.
    regression::register_test_section(r);
    register_memory_stages(r);
    return r;
  }();
  return instance;
}

// A folder for the run's error records and lock, removed on every way out.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "embedflow-python-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder");
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Python values of keyword arguments → JSON (which is YAML), so that the stage schema
// validates them as it validates a pipeline file.
Json to_json(const py::handle& value, const std::string& name) {
  if (value.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>();
  if (py::isinstance<py::int_>(value)) return value.cast<int64_t>();
  if (py::isinstance<py::float_>(value)) return value.cast<double>();
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::hasattr(value, "__fspath__")) return py::str(value).cast<std::string>();
  if (py::isinstance<py::dict>(value)) {
    Json out = Json::object();
    for (auto kv : value.cast<py::dict>())
      out[py::str(kv.first).cast<std::string>()] =
          to_json(kv.second, name + "." + py::str(kv.first).cast<std::string>());
    return out;
  }
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    Json out = Json::array();
    for (auto v : value) out.push_back(to_json(v, name));
    return out;
  }
  throw py::type_error("parameter '" + name +
                       "': " + py::str(value.get_type().attr("__name__")).cast<std::string>() +
                       " is not a parameter value (give a bool, int, float, str, list or dict)");
}

Json kwargs_to_json(const py::kwargs& kwargs) {
  Json out = Json::object();
  for (auto kv : kwargs) {
    const std::string key = py::str(kv.first).cast<std::string>();
    out[key] = to_json(kv.second, key);
  }
  return out;
}

// Takes `key` out of the keyword arguments when given as a dict (the parameters of a stage
// other than the encoder: preprocess=…, segment=…).
Json pop_block(py::kwargs& kwargs, const char* key) {
  if (!kwargs.contains(key)) return Json::object();
  py::object v = kwargs[key];
  PyDict_DelItemString(kwargs.ptr(), key);
  if (!py::isinstance<py::dict>(v))
    throw py::type_error(std::string(key) + " must be a dict of that stage's parameters");
  return to_json(v, key);
}

struct PipelineText {
  std::string yaml;
  std::string last;  // id of the last stage added

  explicit PipelineText(const std::string& name, const std::string& errors) {
    yaml = "pipeline: " + name + "\nerrors: " + Json(errors).dump() + "\nstages:\n";
  }
  // JSON objects are YAML flow mappings: any parameter value, quoted as it needs.
  void add(const std::string& id, const std::string& type, const Json& params) {
    yaml += "  - id: " + id + "\n    type: " + type + "\n";
    if (!last.empty()) yaml += "    input: " + last + "\n";
    if (!params.empty()) yaml += "    params: " + params.dump() + "\n";
    last = id;
  }
};

Json merged(Json base, const Json& extra) {
  for (auto it = extra.begin(); it != extra.end(); ++it) base[it.key()] = it.value();
  return base;
}

// One line per error record of errors.jsonl: "<id> (<source>): stage '<stage>': <error>".
std::string describe_errors(const std::string& errors_file, size_t limit = 20) {
  std::ifstream in(errors_file);
  std::string line, out;
  size_t n = 0;
  while (std::getline(in, line)) {
    if (++n > limit) continue;
    try {
      const Json j = Json::parse(line);
      out += "\n  " + j.value("id", "") + " (" + j.value("source", "") + "): stage '" +
             j.value("stage", "") + "': " + j.value("error", "");
    } catch (const std::exception&) {
      out += "\n  " + line;
    }
  }
  if (n > limit) out += "\n  … and " + std::to_string(n - limit) + " more in " + errors_file;
  return out;
}

py::array to_numpy(const Tensor& t) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  py::array out;
  switch (t.dtype()) {
    case DType::F32:
      out = py::array_t<float>(shape);
      break;
    case DType::U8:
      out = py::array_t<uint8_t>(shape);
      break;
    case DType::I64:
      out = py::array_t<int64_t>(shape);
      break;
  }
  if (t.nbytes()) std::memcpy(out.mutable_data(), t.raw(), t.nbytes());
  return out;
}

// Stacks the rows the sink received: [N, *row shape].
py::array stack(const std::vector<Item>& rows) {
  const Tensor& first = rows.front().tensor;
  std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(rows.size())};
  shape.insert(shape.end(), first.shape().begin(), first.shape().end());
  py::array_t<float> out(shape);
  auto* dst = reinterpret_cast<char*>(out.mutable_data());
  for (const Item& r : rows) {
    if (r.tensor.shape() != first.shape() || r.tensor.dtype() != DType::F32)
      throw std::runtime_error("item '" + r.id + "' has shape " + r.tensor.shape_str() +
                               ", the first one " + first.shape_str() +
                               ": rows of different shapes do not stack");
    std::memcpy(dst, r.tensor.raw(), r.tensor.nbytes());
    dst += r.tensor.nbytes();
  }
  return out;
}

// Encoder stages stay open between calls, as a SentenceTransformer object keeps its model: the
// first call with a model and parameters loads it (ResNet-18: ~0.5 s of BatchNorm folding and
// weight transforms), later calls reuse the opened stage. The engine still constructs a stage
// each run; the decorator swaps in the kept one behind a wrapper whose close() keeps it open.
// clear_models() (and interpreter exit) releases them.
struct KeptStage {
  std::mutex open_mutex;  // two Python threads opening the same new stage open it once
  std::shared_ptr<Stage> stage;
  bool opened = false;
};

std::mutex g_kept_mutex;
std::map<std::string, std::shared_ptr<KeptStage>>& kept_stages() {
  // Never destroyed (no static destructor after the interpreter is gone): atexit empties it.
  static auto* kept = new std::map<std::string, std::shared_ptr<KeptStage>>();
  return *kept;
}

class KeptEncoder : public BatchStage {
 public:
  explicit KeptEncoder(std::shared_ptr<KeptStage> kept)
      : kept_(std::move(kept)), batch_(dynamic_cast<BatchStage*>(kept_->stage.get())) {}
  void open(const StageContext& ctx) override {
    std::lock_guard<std::mutex> lock(kept_->open_mutex);
    if (kept_->opened) return;
    kept_->stage->open(ctx);
    kept_->opened = true;
  }
  std::optional<RowShape> output_row_shape(const std::optional<RowShape>& input) const override {
    return kept_->stage->output_row_shape(input);
  }
  std::string description() const override { return kept_->stage->description(); }
  void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) override {
    batch_->process_batch(in, out);
  }
  void close() override {}  // kept open for the next call

 private:
  std::shared_ptr<KeptStage> kept_;
  BatchStage* batch_;
};

// The weights file's device, inode, size and modification time; "" when it cannot be found
// (the stage reports that itself).
std::string weights_identity(const std::string& model) {
  try {
    const std::string weights = models::resolve_model_path(model).weights;
    struct stat st {};
    if (::stat(weights.c_str(), &st) != 0) return "";
    return weights + ":" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
           std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec);
  } catch (const std::exception&) {
    return "";
  }
}

std::unique_ptr<Stage> keep_encoders_open(const StageConfig& config, std::unique_ptr<Stage> stage) {
  if (config.type.rfind("encode.", 0) != 0 || !dynamic_cast<BatchStage*>(stage.get())) return stage;
  // Loaded weights are memory-mapped: a file rewritten in place must never be read through a
  // kept stage (SIGBUS). Its identity is part of the key, and a stage of older weights is
  // dropped unused.
  const std::string stage_key = config.type + "\n" + config.params.values().dump() + "\n";
  const std::string key = stage_key + weights_identity(config.params.get_string("model"));
  std::shared_ptr<KeptStage> kept;
  {
    std::lock_guard<std::mutex> lock(g_kept_mutex);
    auto& all = kept_stages();
    for (auto it = all.lower_bound(stage_key);
         it != all.end() && it->first.compare(0, stage_key.size(), stage_key) == 0;)
      it = it->first == key ? std::next(it) : all.erase(it);
    auto& slot = all[key];
    if (!slot) {
      slot = std::make_shared<KeptStage>();
      slot->stage = std::move(stage);
    }
    kept = slot;
  }
  return std::make_unique<KeptEncoder>(std::move(kept));
}

size_t clear_models() {
  std::map<std::string, std::shared_ptr<KeptStage>> dropped;
  {
    std::lock_guard<std::mutex> lock(g_kept_mutex);
    dropped.swap(kept_stages());
  }
  const size_t n = dropped.size();
  for (auto& [key, kept] : dropped)
    if (kept->opened && kept.use_count() == 1) kept->stage->close();
  return n;  // a stage a running call still holds is released when that call ends
}

// run_pipeline on a thread of its own while the caller's thread, GIL released, wakes every
// 100 ms to let Python handle signals: Ctrl-C stops the run (the sources stop, what is in
// flight drains) and raises KeyboardInterrupt once it has stopped.
RunResult run_interruptibly(const PipelineConfig& cfg, RunOptions opts) {
  std::atomic<bool> stop{false};
  opts.stop = &stop;
  auto running = std::async(std::launch::async, [&] { return run_pipeline(cfg, opts); });
  bool interrupted = false;
  for (;;) {
    {
      py::gil_scoped_release release;
      if (running.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) break;
    }
    if (!interrupted && PyErr_CheckSignals() != 0) {
      interrupted = true;  // the exception stays pending until the run has stopped
      stop = true;
    }
  }
  if (interrupted) {
    py::error_already_set pending;
    try {
      running.get();
    } catch (const std::exception&) {
      // The interrupt is what the user asked about.
    }
    throw pending;
  }
  return running.get();
}

// Runs a pipeline built in memory and returns the rows of its memory.sink, one per input.
py::array run_in_memory(const PipelineText& p, const std::string& name,
                        const std::shared_ptr<Channel>& channel, const ScratchDir& dir) {
  const size_t inputs = channel->inputs.size();
  std::optional<PipelineConfig> cfg;
  {
    py::gil_scoped_release release;
    cfg = load_pipeline_string(p.yaml, name, registry());
    preflight(*cfg, hub::model_resolver());
  }
  RunOptions opts;
  opts.lock_dir = dir.path;
  opts.wrap_stage = keep_encoders_open;
  const RunResult result = run_interruptibly(*cfg, opts);
  if (result.status != RunResult::Status::Ok)
    throw std::runtime_error(name + ": the run " +
                             (result.status == RunResult::Status::Failed ? "failed" : "stopped") +
                             ": " + result.message);
  if (result.errors > 0)
    throw std::runtime_error(name + ": " + std::to_string(result.errors) + " of " +
                             std::to_string(inputs) +
                             " item(s) failed:" + describe_errors(result.errors_file));
  if (channel->outputs.size() != inputs)
    throw std::runtime_error(name + ": " + std::to_string(inputs) + " input(s) gave " +
                             std::to_string(channel->outputs.size()) + " embedding(s)");
  return stack(channel->outputs);
}

std::string path_string(const py::handle& v) {
  return py::str(py::module_::import("os").attr("fspath")(v)).cast<std::string>();
}

bool is_path(const py::handle& v) {
  return py::isinstance<py::str>(v) || py::hasattr(v, "__fspath__");
}

void require_inputs(const py::sequence& seq, const char* what) {
  if (py::len(seq) == 0)
    throw py::value_error(std::string("no ") + what + " to embed: give a non-empty list");
}

py::array encode_text(const py::object& model_path, py::object texts, py::kwargs kwargs) {
  const std::string model = path_string(model_path);
  if (py::isinstance<py::str>(texts)) texts = py::make_tuple(texts);
  const py::sequence seq = texts.cast<py::sequence>();
  require_inputs(seq, "texts");
  auto channel = std::make_shared<Channel>();
  for (size_t i = 0; i < seq.size(); ++i) {
    if (!py::isinstance<py::str>(seq[i]))
      throw py::type_error("texts[" + std::to_string(i) + "] is not a str");
    Item item;
    item.id = std::to_string(i);
    item.source = "texts[" + std::to_string(i) + "]";
    item.kind = Kind::Text;
    item.text = seq[i].cast<std::string>();
    channel->inputs.push_back(std::move(item));
  }
  ChannelHandle handle(channel);
  ScratchDir dir;
  PipelineText p("encode_text", dir.path + "/errors.jsonl");
  p.add("texts", "memory.source", {{"channel", handle.name()}, {"kind", "text"}});
  p.add("embed", models::text_encoder_stage_for(model),
        merged({{"model", model}}, kwargs_to_json(kwargs)));
  p.add("out", "memory.sink", {{"channel", handle.name()}});
  return run_in_memory(p, "embedflow.encode_text", channel, dir);
}

// The items of `inputs` (named `what` in messages): a path becomes a File item, anything else
// the item `from_array` makes of it (which throws py::value_error for what it cannot take).
// All paths or all arrays; `files` says which.
std::shared_ptr<Channel> items_of(
    const py::sequence& inputs, const std::string& what, bool& files,
    const std::function<void(size_t, const py::object&, Item&)>& from_array) {
  auto channel = std::make_shared<Channel>();
  bool arrays = false;
  files = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Item item;
    item.id = std::to_string(i);
    const py::object v = inputs[i];
    if (is_path(v)) {
      files = true;
      item.kind = Kind::File;
      item.source = path_string(v);
    } else {
      arrays = true;
      from_array(i, v, item);
    }
    channel->inputs.push_back(std::move(item));
  }
  if (files && arrays) throw py::value_error(what + ": give all paths or all arrays, not a mix");
  return channel;
}

py::array encode_images(const py::object& model_path, const py::sequence& images,
                        py::kwargs kwargs) {
  const std::string model = path_string(model_path);
  require_inputs(images, "images");
  const Json preprocess = pop_block(kwargs, "preprocess");
  bool files = false;
  const auto channel =
      items_of(images, "images", files, [](size_t i, const py::object& v, Item& item) {
        const py::array a = py::array::ensure(v);
        if (!a || a.ndim() != 3 || a.shape(2) != 3 || !a.dtype().is(py::dtype::of<uint8_t>())) {
          const std::string found = a ? py::str(a.attr("shape")).cast<std::string>() + " " +
                                            py::str(a.dtype()).cast<std::string>()
                                      : py::str(v.get_type()).cast<std::string>();
          throw py::value_error("images[" + std::to_string(i) +
                                "]: give a path or an H×W×3 uint8 RGB array, found " + found);
        }
        const auto c = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(a);
        item.kind = Kind::Image;
        item.source = "images[" + std::to_string(i) + "]";
        item.tensor = Tensor(DType::U8, {a.shape(0), a.shape(1), 3});
        std::memcpy(item.tensor.raw_mut(), c.data(), item.tensor.nbytes());
      });
  ChannelHandle handle(channel);
  ScratchDir dir;
  const std::string encoder = models::image_encoder_stage_for(model);
  PipelineText p("encode_images", dir.path + "/errors.jsonl");
  p.add("images", "memory.source",
        {{"channel", handle.name()}, {"kind", files ? "file" : "image"}});
  if (files) p.add("load", "image.load", {{"alpha", "drop"}});
  if (encoder == "encode.image") {
    // Hugging Face vision transformers carry their recipe (preprocessor_config.json); ResNets
    // take torchvision's ImageNet evaluation transforms, image.preprocess's defaults.
    const std::string type = models::model_type_of(model);
    Json params = type == "vit" || type == "dinov2" ? Json{{"model", model}} : Json::object();
    p.add("preprocess", "image.preprocess", merged(params, preprocess));
  } else if (!preprocess.empty()) {
    throw py::value_error(
        "preprocess: CLIP models preprocess with their own "
        "preprocessor_config.json (encode.clip_image's preprocess/resample)");
  }
  p.add("embed", encoder, merged({{"model", model}}, kwargs_to_json(kwargs)));
  p.add("out", "memory.sink", {{"channel", handle.name()}});
  return run_in_memory(p, "embedflow.encode_images", channel, dir);
}

// The stages of configs/audio_to_embedding.yaml: 16 kHz mono, 10 s windows, log-mel (dB)
// spectrograms drawn as 224×224 images, an image model, windows mean-pooled per recording.
constexpr int kAudioRate = 16000;

py::array encode_audio(const py::object& model_path, const py::sequence& audio,
                       std::optional<int> sample_rate, py::kwargs kwargs) {
  const std::string model = path_string(model_path);
  require_inputs(audio, "recordings");
  const Json segment = pop_block(kwargs, "segment");
  bool files = false;
  const auto channel =
      items_of(audio, "audio", files, [&](size_t i, const py::object& v, Item& item) {
        const auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(v);
        if (!a || (a.ndim() != 1 && a.ndim() != 2) || a.size() == 0)
          throw py::value_error("audio[" + std::to_string(i) +
                                "]: give a path or a non-empty float array [samples] or "
                                "[channels, samples]");
        const int64_t channels = a.ndim() == 1 ? 1 : a.shape(0);
        const int64_t samples = a.ndim() == 1 ? a.shape(0) : a.shape(1);
        // Channels averaged, as audio.load's `mono: true` does for files.
        item.tensor = Tensor(DType::F32, {1, samples});
        float* dst = item.tensor.data<float>();
        const float* src = a.data();
        for (int64_t s = 0; s < samples; ++s) {
          float sum = 0;
          for (int64_t c = 0; c < channels; ++c) sum += src[c * samples + s];
          dst[s] = sum / static_cast<float>(channels);
        }
        item.kind = Kind::Audio;
        item.source = "audio[" + std::to_string(i) + "]";
        item.sample_rate = sample_rate.value_or(0);
      });
  const bool arrays = !files;
  if (arrays && !sample_rate)
    throw py::value_error("sample_rate: give the rate of the arrays (16000)");
  if (arrays && *sample_rate != kAudioRate)
    throw py::value_error("sample_rate: arrays must be at " + std::to_string(kAudioRate) +
                          " Hz, the chain's rate (found " + std::to_string(*sample_rate) +
                          "): resample them first (e.g. torchaudio.functional.resample), or "
                          "pass file paths, which audio.load resamples with libsoxr");
  ChannelHandle handle(channel);
  ScratchDir dir;
  PipelineText p("encode_audio", dir.path + "/errors.jsonl");
  p.add("recordings", "memory.source",
        {{"channel", handle.name()}, {"kind", files ? "file" : "audio"}});
  if (files) p.add("load", "audio.load", {{"sample_rate", kAudioRate}, {"mono", true}});
  p.add("segment", "audio.segment",
        merged({{"window", 10.0}, {"hop", 10.0}, {"min_duration", 1.0}}, segment));
  p.add(
      "mel", "audio.spectrogram",
      {{"n_fft", 400}, {"hop_length", 160}, {"mel", {{"n_mels", 128}}}, {"db", {{"top_db", 80}}}});
  p.add("image", "spectrogram.image",
        {{"scale", "min-max"},
         {"flip", true},
         {"height", 224},
         {"width", 224},
         {"interpolation", "linear"},
         {"channels", "replicate"},
         {"normalize", "imagenet"}});
  p.add("embed", "encode.image",
        merged({{"model", model}, {"layer", "pool"}, {"batch_size", 16}}, kwargs_to_json(kwargs)));
  p.add("pool", "aggregate.mean", Json::object());
  p.add("out", "memory.sink", {{"channel", handle.name()}});
  return run_in_memory(p, "embedflow.encode_audio", channel, dir);
}

// Rows of a [N, D] (or one [D]) float array, as float64.
std::vector<std::vector<double>> rows_of(const py::object& x, const char* name) {
  const auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(x);
  if (!a || (a.ndim() != 1 && a.ndim() != 2))
    throw py::value_error(std::string(name) + ": give a [N, D] or [D] array of numbers");
  const int64_t n = a.ndim() == 1 ? 1 : a.shape(0), d = a.ndim() == 1 ? a.shape(0) : a.shape(1);
  std::vector<std::vector<double>> rows(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) rows[r].assign(a.data() + r * d, a.data() + (r + 1) * d);
  return rows;
}

py::array_t<float> similarity(const py::object& a, const py::object& b) {
  auto ra = rows_of(a, "a");
  auto rb = rows_of(b.is_none() ? a : b, "b");
  const size_t d = ra.empty() ? 0 : ra[0].size();
  if (!rb.empty() && rb[0].size() != d)
    throw py::value_error("a has " + std::to_string(d) + " columns, b " +
                          std::to_string(rb[0].size()) + ": embeddings of different widths");
  // Rows scaled to unit length; a zero row stays zero (torch's normalize, eps 1e-12).
  for (auto* m : {&ra, &rb})
    for (auto& r : *m) {
      double norm = 0;
      for (double v : r) norm += v * v;
      norm = std::max(std::sqrt(norm), 1e-12);
      for (double& v : r) v /= norm;
    }
  py::array_t<float> out(
      {static_cast<py::ssize_t>(ra.size()), static_cast<py::ssize_t>(rb.size())});
  float* o = out.mutable_data();
  for (size_t i = 0; i < ra.size(); ++i)
    for (size_t j = 0; j < rb.size(); ++j) {
      double dot = 0;
      for (size_t k = 0; k < d; ++k) dot += ra[i][k] * rb[j][k];
      o[i * rb.size() + j] = static_cast<float>(dot);
    }
  return out;
}

py::dict run(const py::object& pipeline_arg, const py::dict& set, const py::dict& env,
             int threads) {
  const std::string pipeline = path_string(pipeline_arg);
  LoadOptions load;
  for (auto kv : set) {
    const std::string key = py::str(kv.first).cast<std::string>();
    load.overrides.push_back(key + "=" + to_json(kv.second, key).dump());
  }
  for (auto kv : env)
    load.env[py::str(kv.first).cast<std::string>()] = py::str(kv.second).cast<std::string>();
  // A string with a line break is the pipeline's YAML text, anything else a file's path.
  const bool text = pipeline.find('\n') != std::string::npos;
  std::optional<PipelineConfig> cfg;
  {
    py::gil_scoped_release release;
    cfg = text ? load_pipeline_string(pipeline, "embedflow.run", registry(), load)
               : load_pipeline_file(pipeline, registry(), load);
    preflight(*cfg, hub::model_resolver());
  }
  RunOptions opts;
  opts.threads = threads;
  const RunResult result = run_interruptibly(*cfg, opts);
  const std::string name = text ? "embedflow.run" : pipeline;
  if (result.status != RunResult::Status::Ok)
    throw std::runtime_error(name + ": the run " +
                             (result.status == RunResult::Status::Failed ? "failed" : "stopped") +
                             ": " + result.message);
  if (result.items == 0)
    throw std::runtime_error(name + ": the run produced nothing: its sources gave no items");
  if (result.errors > 0 && result.errors >= result.items)
    throw std::runtime_error(name + ": every item failed:" + describe_errors(result.errors_file));
  py::dict outputs;
  for (size_t i = 0; i < result.outputs.size(); ++i) {
    const std::string& path = result.outputs[i];
    const py::str id(i < result.output_stages.size() ? result.output_stages[i] : path);
    if (fs::path(path).extension() == ".npy")
      outputs[id] = to_numpy(read_npy(path));
    else if (!outputs.contains(id))
      outputs[id] = py::str(path);  // a .npy's sidecar does not replace its array
  }
  py::dict out;
  out["outputs"] = outputs;
  out["items"] = result.items;
  out["errors"] = result.errors;
  out["errors_file"] =
      result.errors_file.empty() ? py::object(py::none()) : py::str(result.errors_file);
  out["seconds"] = result.seconds;
  out["open_seconds"] = result.open_seconds;
  return out;
}

}  // namespace

}  // namespace embedflow::python

PYBIND11_MODULE(embedflow, m) {
  using namespace embedflow::python;
  m.doc() =
      "embedflow: audio, images and text to embeddings on embedflow's engine.\n\n"
      "    import embedflow\n"
      "    e = embedflow.encode_text('all-MiniLM-L6-v2', ['The cat sits.', 'A dog runs.'])\n"
      "    print(embedflow.similarity(e, e))\n\n"
      "Each encode_* call builds and runs a pipeline (the stages of `embedflow stages`), with "
      "the GIL released while it runs (Ctrl-C stops it: KeyboardInterrupt). Bad parameters raise "
      "ValueError with the engine's "
      "message; failed items raise RuntimeError listing them.";
  m.attr("__version__") = EMBEDFLOW_VERSION;

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const embedflow::ConfigError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def(
      "clear_models", [] { return clear_models(); },
      "clear_models() -> int\n\n"
      "Releases the models that earlier encode_* calls keep loaded (each model and parameter "
      "set is loaded once and reused by later calls, as a SentenceTransformer object keeps "
      "its model); returns how many. Call it after a model's files changed on disk, or to "
      "free their memory.");
  // Models are released while the interpreter still runs, not by static destructors after it.
  py::module_::import("atexit").attr("register")(py::cpp_function([] { clear_models(); }));

  m.def("encode_text", &encode_text, py::arg("model"), py::arg("texts"),
        "encode_text(model, texts, **params) -> numpy.ndarray[float32] of shape (N, D)\n\n"
        "Embeds texts as SentenceTransformer(model).encode(texts) does. `model` is a "
        "sentence-transformers or CLIP folder, or a hub id in the Hugging Face cache; a CLIP "
        "folder runs encode.clip_text, any other encode.text. `params` are that stage's "
        "parameters (precision='int8', batch_size=64, normalize='true', prompt='query: ', "
        "pooling='cls', …: see `embedflow stages encode.text`), validated by its schema: an "
        "unknown or bad one raises ValueError naming it. A text that fails (invalid UTF-8) "
        "raises RuntimeError listing it.");
  m.def("encode_images", &encode_images, py::arg("model"), py::arg("images"),
        "encode_images(model, images, **params) -> numpy.ndarray[float32] of shape (N, D)\n\n"
        "Embeds images given as paths or H×W×3 uint8 RGB arrays. A CLIP folder runs "
        "encode.clip_image (its own preprocessing); a ResNet, ViT or DINOv2 runs "
        "image.preprocess (a ViT/DINOv2 folder's preprocessor_config.json, else torchvision's "
        "ImageNet evaluation transforms; override with preprocess={...}) then encode.image. "
        "`params` are the encoder stage's parameters (layer, pooling, precision, batch_size, "
        "normalize, …), validated by its schema (ValueError naming a bad one). Unreadable "
        "images raise RuntimeError listing them.");
  m.def(
      "encode_audio", &encode_audio, py::arg("model"), py::arg("audio"),
      py::arg("sample_rate") = py::none(),
      "encode_audio(model, audio, sample_rate=None, **params) -> numpy.ndarray[float32] (N, D)\n\n"
      "One embedding per recording, the chain of configs/audio_to_embedding.yaml: 16 kHz "
      "mono, 10 s windows (segment={'window': 5, 'hop': 2.5} changes them), log-mel "
      "spectrograms drawn as 224×224 images, an image model (encode.image: a ResNet), windows "
      "mean-pooled per recording. `audio` holds file paths (resampled with libsoxr) or float "
      "arrays [samples] or [channels, samples] (channels averaged) at sample_rate=16000. "
      "`params` are encode.image's parameters.");
  m.def("similarity", &similarity, py::arg("a"), py::arg("b") = py::none(),
        "similarity(a, b=None) -> numpy.ndarray[float32] of shape (N, M)\n\n"
        "Cosine similarity of every row of `a` ([N, D] or [D]) with every row of `b` "
        "([M, D] or [D]; default: `a`), as sentence-transformers' util.cos_sim and "
        "model.similarity compute it (computed in float64, returned as float32).");
  m.def("run", &run, py::arg("pipeline"), py::arg("set") = py::dict(), py::arg("env") = py::dict(),
        py::arg("threads") = 0,
        "run(pipeline, set={}, env={}, threads=0) -> dict\n\n"
        "Runs a pipeline as `embedflow run` does: `pipeline` is a YAML file's path, or YAML "
        "text (any string with a line break). `set` overrides parameters "
        "({'embed.precision': 'int8'}, as --set), `env` gives ${VAR} values. Returns "
        "{'outputs': {writer id: numpy array for .npy outputs, else the file's path}, "
        "'items': completed source items, 'errors': failed ones, 'errors_file': path or None, "
        "'seconds': run time, 'open_seconds': of which opening the stages (loading models)}. "
        "Raises ValueError for a configuration error, RuntimeError for a "
        "failed run, one that produced nothing, or one where every item failed.");
}
