// `embedflow validate FILE`: everything `run` checks before it starts — the schema, every
// stage's parameter combinations, inputs, models and output paths (preflight.h) — without
// loading a model or reading an item. Users gate CI on it, so it rejects what run would.
#include <iostream>
#include <memory>

#include "apps/embedflow/commands.h"
#include "embedflow/hub/resolver.h"
#include "embedflow/preflight.h"

namespace embedflow::cli {

namespace {

struct ValidateArgs {
  std::string file;
  std::vector<std::string> overrides;
};

int validate(const ValidateArgs& a, const Registry& registry) {
  LoadOptions load_options;
  load_options.overrides = a.overrides;
  PipelineConfig cfg = load_pipeline_file(a.file, registry, load_options);
  print_warnings(cfg);
  preflight(cfg, hub::model_resolver(), offline_model_hint);
  std::cout << a.file << ": ok (" << cfg.stages.size() << " stages)\n";
  return kExitOk;
}

}  // namespace

void add_validate_command(CLI::App& app, CommandList& commands, const Registry& registry) {
  auto a = std::make_shared<ValidateArgs>();
  auto* cmd = app.add_subcommand("validate", "Check a pipeline file without running it");
  cmd->add_option("file", a->file, "Pipeline YAML")->required()->check(CLI::ExistingFile);
  add_set_option(cmd, a->overrides);
  commands.push_back({cmd, [a, &registry] { return validate(*a, registry); }});
}

}  // namespace embedflow::cli
