#include "apps/embedflow/commands.h"

#include <iostream>

namespace embedflow::cli {

int report_config_error(const ConfigError& e) {
  size_t errors = 0;
  for (const auto& d : e.diagnostics()) {
    std::cerr << d.str() << "\n";
    if (d.severity == Diagnostic::Severity::Error) ++errors;
  }
  std::cerr << errors << (errors == 1 ? " error" : " errors") << "\n";
  return kExitInvalid;
}

void print_warnings(const PipelineConfig& config) {
  for (const auto& w : config.warnings) std::cerr << w.str() << "\n";
}

ProgressMode progress_mode(const std::string& name) {
  return name == "on" ? ProgressMode::On : name == "off" ? ProgressMode::Off : ProgressMode::Auto;
}

void add_set_option(CLI::App* cmd, std::vector<std::string>& overrides) {
  cmd->add_option("--set", overrides, "Override a value: stage_id.param=value (repeatable)");
}

}  // namespace embedflow::cli
