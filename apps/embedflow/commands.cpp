#include "apps/embedflow/commands.h"

#include <filesystem>
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

std::string offline_model_hint(const std::string&) {
  namespace fs = std::filesystem;
  struct Bundled {
    const char* variable;
    const char* path;
    const char* what;
  };
  // The random-weight models of the source tree (the last one made by tools/setup.sh demo).
  static const Bundled bundled[] = {
      {"MODEL", "tests/fixtures/text/tiny-bert-uncased", "text"},
      {"CLIP_MODEL", "tests/fixtures/clip/tiny", "CLIP"},
      {"MODEL", "tests/fixtures/generated/resnet18-random.safetensors", "images, audio"}};
  // Seen from the current folder (the source root, as the README runs the configs), else from
  // the source tree that holds this executable's build folder.
  std::error_code ec;
  std::vector<fs::path> roots = {fs::path()};
  const fs::path exe = fs::canonical("/proc/self/exe", ec);
  if (!ec) roots.push_back(exe.parent_path().parent_path().parent_path());
  std::string found, example;
  for (const fs::path& root : roots) {
    for (const Bundled& b : bundled) {
      const fs::path p = root / b.path;
      if (!fs::exists(p, ec)) continue;
      found += std::string(found.empty() ? "" : ", ") + b.variable + "=" + p.string() + " (" +
               b.what + ")";
      if (example.empty())
        example = std::string(b.variable) + "=" + p.string() +
                  (std::string(b.what) == "text" ? " embedflow run configs/text_similarity.yaml"
                                                 : " embedflow run …");
    }
    if (!found.empty()) break;
  }
  if (found.empty())
    return ". Offline, name a local model folder or file instead: `MODEL=/path/to/model "
           "embedflow run …` (the shipped configs read MODEL, or CLIP_MODEL for CLIP)";
  return ". Offline, the bundled random-weight models run the shipped configs (their outputs "
         "mean nothing): " +
         found + "; e.g. `" + example + "`";
}

void add_set_option(CLI::App* cmd, std::vector<std::string>& overrides) {
  cmd->add_option("--set", overrides, "Override a value: stage_id.param=value (repeatable)");
}

}  // namespace embedflow::cli
