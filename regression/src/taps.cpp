// Taps: a writer for each stage with `tap: true`, added only by `embedflow test`.
#include "embedflow/regression/taps.h"

#include <algorithm>
#include <filesystem>

#include "embedflow/executor.h"

namespace fs = std::filesystem;

namespace embedflow::regression {

std::string tap_writer_id(const std::string& stage_id) {
  return "tap:" + stage_id;
}

std::vector<std::string> add_tap_writers(PipelineConfig& config, const Registry& registry) {
  fs::path taps = fs::path(run_output_dir(config)) / "taps";
  std::vector<Diagnostic> diags;
  std::vector<StageConfig> writers;
  for (const auto& sc : config.stages) {
    if (!sc.tap || !sc.stage_type) continue;
    auto error = [&](const std::string& msg) {
      diags.push_back({Diagnostic::Severity::Error, sc.where, sc.id, msg});
    };
    if (sc.stage_type->schema.kind == StageKind::Sink) {
      error("tap: true on a writer: its files are compared already; remove `tap`");
      continue;
    }
    std::string file = sc.id;  // a file name, whatever the id holds
    std::replace_if(
        file.begin(), file.end(), [](char c) { return c == '/' || c == '\\'; }, '_');
    std::string type;
    Json params;
    switch (sc.output) {
      case Kind::Embedding:  // one shape per stage: one stacked array
        type = "write.npy";
        params = {{"path", (taps / (file + ".npy")).string()}, {"dtype", "keep"}};
        break;
      case Kind::Audio:
      case Kind::Spectrogram:
      case Kind::Image:
      case Kind::ImageTensor:
      case Kind::Tensor:  // shapes may differ between items: a file each
        type = "write.npy";
        params = {{"per_item", true},
                  {"dir", (taps / file).string()},
                  {"name", "{index}_{id}.npy"},
                  {"dtype", "keep"}};
        break;
      default:  // texts, records, file names
        type = "write.jsonl";
        params = {{"path", (taps / (file + ".jsonl")).string()}};
        break;
    }
    const StageType* writer = registry.find(type);
    if (!writer) {
      error("tap: true needs the " + type + " writer, which this build does not register");
      continue;
    }
    StageConfig w;
    w.id = tap_writer_id(sc.id);
    if (config.find(w.id)) {
      error("tap: true would add a writer '" + w.id + "', but a stage already has that id");
      continue;
    }
    w.type = type;
    w.inputs = {sc.id};
    w.params = resolve_params(writer->schema, w.id, params);
    w.concurrency = 1;
    w.on_error = sc.on_error;
    w.where = sc.where;
    w.stage_type = writer;
    w.output = Kind::None;
    w.generated = true;  // follows from `tap`: not part of the run identity
    writers.push_back(std::move(w));
  }
  if (!diags.empty()) throw ConfigError(diags);
  std::vector<std::string> ids;
  for (auto& w : writers) {
    ids.push_back(w.id);
    config.stages.push_back(std::move(w));
  }
  return ids;
}

}  // namespace embedflow::regression
