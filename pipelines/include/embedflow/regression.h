// Pipeline regression tests (`embedflow test`): run a pipeline, then compare every output file
// with a golden copy recorded earlier by `--update`.
//
// Arrays are compared row by row (cosine and max |Δ|), JSON Lines line by line (keys, strings
// and ids exact, numbers within tolerance), CSV cell by cell, anything else (PNG included)
// byte for byte. A golden folder holds the copies, paths relative to the pipeline's output
// folder, and `manifest.json`: embedflow version, model sha256s, config hash, tolerances.
// Torch- and OpenCV-free, like the rest of the engine.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "embedflow/config.h"
#include "embedflow/executor.h"

namespace embedflow::regression {

constexpr const char* kManifestName = "manifest.json";

struct Tolerance {
  double min_cosine = 0.9999;  // per row of an array
  double atol = 1e-5;          // |current - golden| <= atol + rtol * |golden|, per element
  double rtol = 0.0;
};

// The pipeline file's `test:` section, validated.
struct TestSettings {
  Tolerance defaults;
  std::map<std::string, Tolerance> outputs;  // by writer stage id (or a tapped stage's id)
  // The tolerance for the outputs of writer `stage_id`.
  Tolerance for_output(const std::string& stage_id) const;
  Json to_json() const;
};

// Throws ConfigError (with the YAML location when the file can be re-read) on unknown keys, a
// value out of range, or an `outputs:` entry that names no writer or tapped stage.
TestSettings parse_test_settings(const PipelineConfig& config);

// ---------------------------------------------------------------------------------------------
// Taps: `tap: true` on a stage also records its output. Adds one writer per tapped stage,
// writing under `<output dir>/taps/`: write.npy (stacked for embeddings, a file per item for
// other tensors, whose shapes may differ; dtype kept) or write.jsonl for texts and records.
// The writer's id is tap_writer_id(stage id). Returns the ids of the writers added.
std::string tap_writer_id(const std::string& stage_id);
std::vector<std::string> add_tap_writers(PipelineConfig& config, const Registry& registry);

// ---------------------------------------------------------------------------------------------
// Identity of what produced the goldens.

// sha256 of the canonical JSON of the validated stages (id, type, inputs, params, tap), so a
// changed parameter explains a drift. Tap writers are left out (they follow from `tap`).
std::string stage_config_hash(const PipelineConfig& config);
// {"<stage>": {"path": …, "files": {"<file>": sha256}}} for every param named `model` that
// names a file, or a folder (its *.safetensors and config.json files, recursively). A path
// that does not exist on disk (a hub name) is recorded with "missing": true.
Json model_file_hashes(const PipelineConfig& config);

// ---------------------------------------------------------------------------------------------
// Comparing files.

struct Mismatch {
  std::string where;   // "row 3", "line 7", "row 2, column 'score'", "header"
  std::string id;      // the item id of that row when known
  std::string detail;  // what differs, golden vs current
};

struct FileComparison {
  enum class Status { Match, Differ, Missing, Extra };
  Status status = Status::Match;
  std::string stage;                 // writer stage id
  std::string path;                  // relative to the output folder
  std::string kind;                  // "npy", "jsonl", "csv", "bytes"
  uint64_t units = 0;                // rows, lines or bytes compared
  std::vector<Mismatch> mismatches;  // the first `max_report`
  uint64_t mismatch_count = 0;       // all of them
  std::string note;                  // one-line summary (shape change, how compared, …)
  bool ok() const { return status == Status::Match; }
};

// Item ids of the rows of an .npy, from its write.npy sidecar (`{"row": i, "id": …}` lines);
// empty when there is none.
std::vector<std::string> sidecar_ids(const std::string& npy_path);

// Each compares `current` against `golden` (both must exist). `ids` are the item ids of an
// .npy's rows, or one id for a file holding one item (sidecar_ids() of the golden when empty),
// for the report. At most `max_report` mismatches are kept; all are counted.
FileComparison compare_npy(const std::string& golden, const std::string& current,
                           const Tolerance& tol, size_t max_report = 10,
                           std::vector<std::string> ids = {});
FileComparison compare_jsonl(const std::string& golden, const std::string& current,
                             const Tolerance& tol, size_t max_report = 10);
FileComparison compare_csv(const std::string& golden, const std::string& current,
                           const Tolerance& tol, size_t max_report = 10);
FileComparison compare_bytes(const std::string& golden, const std::string& current,
                             size_t max_report = 10);
// Picks the comparison by extension: .npy, .jsonl, .csv, else bytes (.png: byte-exact).
FileComparison compare_file(const std::string& golden, const std::string& current,
                            const Tolerance& tol, size_t max_report = 10);

// ---------------------------------------------------------------------------------------------
// A whole run against a golden folder.

struct RunOutput {
  std::string stage;  // writer stage id
  std::string path;   // relative to the output folder ('/'-separated)
  std::string file;   // where it is on disk now
};

// The files of a run, expanded (a per-item folder becomes its files) and made relative to the
// output folder: the deepest folder holding run_output_dir() and every output.
std::vector<RunOutput> collect_outputs(const PipelineConfig& config, const RunResult& result,
                                       std::string* output_root = nullptr);

struct Report {
  std::string pipeline_file;
  std::string golden_dir;
  Json manifest;                      // the golden manifest
  std::vector<std::string> warnings;  // model/config/version drift
  std::vector<FileComparison> files;
  std::vector<Mismatch> error_changes;  // items that fail now and did not (or the reverse)
  bool ok() const;
  std::string text() const;  // readable, for the terminal
  Json to_json() const;
};

// Copies the run's outputs into `golden_dir` and writes manifest.json (the previous goldens'
// files that this run no longer produces are removed). Returns the manifest.
Json record_goldens(const PipelineConfig& config, const RunResult& result,
                    const std::string& golden_dir, const TestSettings& settings);

// Throws std::runtime_error when `golden_dir` holds no manifest.json.
Report compare_with_goldens(const PipelineConfig& config, const RunResult& result,
                            const std::string& golden_dir, const TestSettings& settings,
                            size_t max_report = 10);

}  // namespace embedflow::regression
