// `embedflow test`: runs a pipeline and compares its outputs with golden copies (or records them
// with --update). Exit codes: 0 every output matches, 1 a mismatch (or the run failed), 2 the
// pipeline, its `test:` section or the command line is invalid, or there are no goldens yet.
#include "apps/embedflow/commands.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "embedflow/config.h"
#include "embedflow/executor.h"
#include "embedflow/hub/resolver.h"
#include "embedflow/regression/goldens.h"
#include "embedflow/regression/settings.h"
#include "embedflow/regression/taps.h"
#include "embedflow/run_identity.h"

namespace embedflow::cli {

namespace {

struct TestOptions {
  std::string file;
  std::string golden;
  bool update = false;
  std::vector<std::string> overrides;
  int threads = 0;
  size_t max_report = 10;
  std::string progress = "off";
  std::string report_json;
};

int run_test(const TestOptions& o, const Registry& registry) {
  namespace rg = regression;
  LoadOptions load;
  load.overrides = o.overrides;
  // ConfigErrors (the pipeline, its test: section, a tap) reach main(), which prints them and
  // exits 2. The registry declares the test: section (main.cpp), so the loader validated it.
  PipelineConfig cfg = load_pipeline_file(o.file, registry, load);
  rg::TestSettings settings = rg::test_settings(cfg);
  for (const auto& w : cfg.warnings) std::cerr << w.str() << "\n";
  if (!o.update &&
      !std::filesystem::is_regular_file(std::filesystem::path(o.golden) / rg::kManifestName)) {
    std::cerr << "error: no goldens in " << o.golden << " (no " << rg::kManifestName
              << "); record them first: embedflow test " << o.file << " --golden " << o.golden
              << " --update\n";
    return cli::kExitInvalid;
  }
  std::vector<std::string> taps = rg::add_tap_writers(cfg, registry);
  const RunIdentity identity = run_identity(cfg, hub::model_resolver());

  RunOptions run;
  run.threads = o.threads;
  run.progress = progress_mode(o.progress);
  RunResult result = run_pipeline(cfg, run);
  if (result.status != RunResult::Status::Ok) {
    std::cerr << result.summary_table();
    std::cerr << "error: the pipeline did not complete, so nothing was compared: " << result.message
              << "\n";
    return cli::kExitFailed;
  }
  if (result.errors)
    std::cerr << result.errors << " item(s) failed; see " << result.errors_file << "\n";

  if (o.update) {
    Json manifest = rg::record_goldens(cfg, result, o.golden, settings, identity);
    std::cout << "recorded " << manifest["outputs"].size() << " golden file(s) in " << o.golden
              << (taps.empty() ? "" : " (" + std::to_string(taps.size()) + " tap(s))") << ":\n";
    for (const auto& out : manifest["outputs"])
      std::cout << "  " << out["path"].get<std::string>() << "  (stage '"
                << out["stage"].get<std::string>() << "')\n";
    if (result.errors)
      std::cout << "note: " << result.errors
                << " item(s) failed; the goldens expect them to fail the same way\n";
    return cli::kExitOk;
  }

  rg::Report report =
      rg::compare_with_goldens(cfg, result, o.golden, settings, identity, o.max_report);
  std::cout << report.text();
  if (!o.report_json.empty()) {
    std::ofstream f(o.report_json);
    f << report.to_json().dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
    if (!f) std::cerr << "error: cannot write " << o.report_json << "\n";
  }
  return report.ok() ? cli::kExitOk : cli::kExitFailed;
}

}  // namespace

void add_test_command(CLI::App& app, cli::CommandList& commands, const Registry& registry) {
  auto opts = std::make_shared<TestOptions>();
  CLI::App* sub = app.add_subcommand(
      "test", "Run a pipeline and compare its outputs with golden copies (regression test)");
  sub->footer(
      "Exit codes: 0 all outputs match, 1 a mismatch or a failed run, 2 an invalid pipeline or "
      "command line, or no goldens yet. Tolerances come from the pipeline's `test:` section; "
      "see docs/regression-tests.md.");
  sub->add_option("file", opts->file, "Pipeline YAML")->required()->check(CLI::ExistingFile);
  sub->add_option("--golden", opts->golden, "Folder of the golden copies and manifest.json")
      ->required();
  sub->add_flag("--update", opts->update,
                "Record this run's outputs as the new goldens instead of comparing");
  sub->add_option("--set", opts->overrides, "Override a value: stage_id.param=value (repeatable)");
  sub->add_option("--threads", opts->threads, "Cores to use (TBB arena and libtorch together)")
      ->check(CLI::Range(1, 1024));
  sub->add_option("--max-report", opts->max_report, "Mismatches listed per output (all counted)")
      ->check(CLI::Range(1, 1000000));
  sub->add_option("--progress", opts->progress, "Progress display (default off)")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  sub->add_option("--report", opts->report_json, "Also write the comparison as JSON to this file");
  commands.push_back({sub, [opts, &registry] { return run_test(*opts, registry); }});
}

}  // namespace embedflow::cli
