#include "embedflow/preflight.h"

#include "embedflow/input_file.h"

#include <filesystem>
#include <map>

namespace fs = std::filesystem;

namespace embedflow {

namespace {

// One spelling per file, so `out/a.npy` and `./out/a.npy` are seen as the same output.
std::string normal_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return (ec ? fs::path(path).lexically_normal() : p).string();
}

Diagnostic error_at(SourceLocation where, std::string stage, std::string message) {
  Diagnostic d;
  d.where = std::move(where);
  d.stage = std::move(stage);
  d.message = std::move(message);
  return d;
}

}  // namespace

void preflight(const PipelineConfig& config, const ModelResolver& resolve_model,
               const MissingModelHint& missing_model_hint) {
  std::vector<Diagnostic> diags;
  auto error = [&](const StageConfig& sc, const std::string& key, const std::string& message) {
    diags.push_back(error_at(sc.params.where(key), sc.id, message));
  };
  std::map<std::string, const StageConfig*> written;  // output file → the writer that owns it
  for (const auto& sc : config.stages) {
    if (!sc.stage_type) continue;
    if (!sc.stage_type->on_demand) {
      try {
        (void)sc.stage_type->factory(sc.params);
      } catch (const ConfigError& e) {
        for (const auto& d : e.diagnostics()) diags.push_back(d);
      } catch (const std::exception& e) {
        diags.push_back(error_at(sc.where, sc.id, e.what()));
      }
    }
    for (const ParamSpec& spec : sc.stage_type->schema.params) {
      if (spec.role == PathRole::None || !sc.params.has(spec.name) ||
          !sc.params.raw(spec.name).is_string())
        continue;
      const std::string value = sc.params.get_string(spec.name);
      std::error_code ec;
      switch (spec.role) {
        case PathRole::None:
          break;
        case PathRole::Input:
          if (value != "-" && !fs::exists(value, ec))
            error(sc, spec.name,
                  spec.name + ": '" + value + "' does not exist" +
                      (ec ? " (" + ec.message() + ")" : std::string()));
          break;
        case PathRole::Model: {
          const std::string local = resolve_model ? resolve_model(value) : value;
          if (local.empty() || !fs::exists(local, ec))
            error(sc, spec.name,
                  "model '" + value +
                      "' is neither a file or folder here nor a model in the hub cache "
                      "(`embedflow models fetch " +
                      value + "` downloads a hub model; `embedflow models list` shows the cache)" +
                      (missing_model_hint ? missing_model_hint(value) : std::string()));
          break;
        }
        case PathRole::OutputFile: {
          const std::string what = non_regular_file_kind(value, false);
          if (!what.empty())
            error(sc, spec.name,
                  spec.name + ": '" + value + "' is " + what +
                      "; a writer replaces its output file whole and would destroy it: name a new "
                      "file or a regular one");
          const std::string key = normal_path(value);
          auto [it, fresh] = written.emplace(key, &sc);
          if (!fresh)
            error(sc, spec.name,
                  spec.name + ": '" + value + "' is also written by stage '" + it->second->id +
                      "'; give each writer its own file");
          break;
        }
        case PathRole::OutputDir:
          if (fs::exists(value, ec) && !fs::is_directory(value, ec))
            error(sc, spec.name, spec.name + ": '" + value + "' exists and is not a folder");
          break;
      }
    }
  }
  if (!config.errors_path.empty()) {
    const std::string what = non_regular_file_kind(config.errors_path, false);
    if (!what.empty())
      diags.push_back(error_at(SourceLocation{config.file, 0, 0}, "",
                               "errors: '" + config.errors_path + "' is " + what +
                                   "; name a new file or a regular one for the error records"));
  }
  if (!diags.empty()) throw ConfigError(diags);
}

}  // namespace embedflow
