// A golden folder: copies of a run's output files (paths relative to the pipeline's output
// folder) and `manifest.json` — embedflow version, run identity (config hash, model sha256s),
// tolerances, failed items, and each file's writer, size and sha256.
#pragma once

#include <string>
#include <vector>

#include "embedflow/config.h"
#include "embedflow/executor.h"
#include "embedflow/regression/report.h"
#include "embedflow/regression/settings.h"
#include "embedflow/run_identity.h"

namespace embedflow::regression {

constexpr const char* kManifestName = "manifest.json";

struct RunOutput {
  std::string stage;  // writer stage id
  std::string path;   // relative to the output folder ('/'-separated)
  std::string file;   // where it is on disk now
};

// The files of a run, expanded (a per-item folder becomes its files) and made relative to the
// output folder: the deepest folder holding run_output_dir() and every output.
std::vector<RunOutput> collect_outputs(const PipelineConfig& config, const RunResult& result,
                                       std::string* output_root = nullptr);

// Copies the run's outputs into `golden_dir` and writes manifest.json (the previous goldens'
// files that this run no longer produces are removed). `identity` is the run's (run_identity()).
// Returns the manifest.
Json record_goldens(const PipelineConfig& config, const RunResult& result,
                    const std::string& golden_dir, const TestSettings& settings,
                    const RunIdentity& identity);

// Compares the run's outputs and failed items with the goldens; a version, config hash or model
// file that differs from the manifest's is a warning. Throws std::runtime_error when
// `golden_dir` holds no manifest.json.
Report compare_with_goldens(const PipelineConfig& config, const RunResult& result,
                            const std::string& golden_dir, const TestSettings& settings,
                            const RunIdentity& identity, size_t max_report = 10);

}  // namespace embedflow::regression
