// libFuzzer target for the pipeline loader (pipelines/src/config.cpp): YAML, `--set` overrides
// and ${VAR} expansion, validated against the schemas of the real torch-free stages (io, debug,
// audio, aggregate, image.load, text.stats) and the regression layer's `test:` section.
//
// Input: the YAML text, then NUL-separated parts: "key=value" is a `--set`, "$NAME=value" an
// environment variable of LoadOptions::env. Every input must give a PipelineConfig that holds
// what validation promises, or a ConfigError whose diagnostics say something; anything else
// (another exception, a crash, a hang, a memory explosion: -timeout / -rss_limit_mb) is a bug.
// Stages of a loaded config are constructed as `validate` does: a constructor may refuse its
// parameters only with a ConfigError.
#include <cctype>
#include <cstdint>
#include <set>
#include <string>
#include <typeinfo>

#include "embedflow/config.h"
#include "embedflow/errors.h"
#include "embedflow/registry.h"
#include "embedflow/regression/settings.h"
#include "fuzz_input.h"
#include "stages/aggregate/register.h"
#include "stages/audio/register.h"
#include "stages/debug/register.h"
#include "stages/image/load.h"
#include "stages/io/register.h"
#include "stages/text/text_stats.h"

namespace {

using embedflow::fuzz::check;
using embedflow::fuzz::fail;

const embedflow::Registry& registry() {
  static const embedflow::Registry* r = [] {
    auto* reg = new embedflow::Registry;
    embedflow::register_io_stages(*reg);
    embedflow::register_debug_stages(*reg);
    embedflow::register_audio_stages(*reg);
    embedflow::register_aggregate_stages(*reg);
    embedflow::add_stage<embedflow::ImageLoadStage>(*reg, embedflow::image_load_schema());
    embedflow::add_stage<embedflow::TextStats>(*reg, embedflow::text_stats_schema());
    embedflow::regression::register_test_section(*reg);
    return reg;
  }();
  return *r;
}

// The rule for stage ids, restated independently of the loader's valid_stage_id.
bool acceptable_id(const std::string& id) {
  if (id.empty() || id.size() > 128 || id.find("..") != std::string::npos) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    const bool ok = std::isalnum(c) || c == '_' || (i > 0 && (c == '.' || c == ':' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

void check_error(const embedflow::ConfigError& e) {
  check(!e.diagnostics().empty(), "ConfigError without diagnostics");
  check(std::string(e.what()).size() > 0, "ConfigError with an empty message");
  bool any_error = false;
  for (const auto& d : e.diagnostics()) {
    check(!d.message.empty(), "a diagnostic without a message");
    any_error = any_error || d.severity == embedflow::Diagnostic::Severity::Error;
  }
  check(any_error, "ConfigError whose diagnostics are all warnings");
}

void check_config(const embedflow::PipelineConfig& cfg) {
  check(cfg.threads >= 0 && cfg.threads <= 1024, "threads out of range");
  check(cfg.max_in_flight >= 0 && cfg.max_in_flight <= 10000000, "max_in_flight out of range");
  for (const auto& w : cfg.warnings)
    check(w.severity == embedflow::Diagnostic::Severity::Warning, "an error among the warnings");
  std::set<std::string> ids;
  for (const auto& sc : cfg.stages) {
    check(acceptable_id(sc.id), "accepted a stage id that names no safe folder: '" + sc.id + "'");
    check(ids.insert(sc.id).second, "accepted a duplicate stage id '" + sc.id + "'");
  }
  for (const auto& sc : cfg.stages) {
    check(sc.stage_type != nullptr, "stage '" + sc.id + "' has no type");
    const embedflow::StageSchema& schema = sc.stage_type->schema;
    check(schema.type == sc.type, "stage '" + sc.id + "' has the schema of another type");
    if (schema.kind == embedflow::StageKind::Source)
      check(sc.inputs.empty(), "source stage '" + sc.id + "' has inputs");
    else
      check(!sc.inputs.empty() && sc.inputs.size() <= schema.inputs.size(),
            "stage '" + sc.id + "' has " + std::to_string(sc.inputs.size()) + " inputs");
    for (const auto& in : sc.inputs)
      check(ids.count(in) == 1, "stage '" + sc.id + "' reads from unknown stage '" + in + "'");
    check(sc.concurrency >= 0, "negative concurrency");
    if (schema.max_concurrency > 0)
      check(sc.concurrency >= 1 && sc.concurrency <= schema.max_concurrency,
            "stage '" + sc.id + "' exceeds its type's concurrency limit");
    const embedflow::Json& values = sc.params.values();
    check(values.is_object(), "params are not an object");
    for (const auto& [key, value] : values.items()) {
      (void)value;
      check(schema.find_param(key) != nullptr,
            "stage '" + sc.id + "' kept an undeclared parameter '" + key + "'");
    }
    // What `validate` does next: a constructor refuses a combination only with a ConfigError.
    try {
      (void)sc.stage_type->factory(sc.params);
    } catch (const embedflow::ConfigError& e) {
      check_error(e);
    } catch (const std::exception& e) {
      fail("constructing stage '" + sc.id + "' (" + sc.type + ") threw " + typeid(e).name() + ": " +
           e.what());
    }
  }
  for (const auto& [name, spec] : registry().sections())
    check(cfg.section(name) != nullptr, "section '" + name + "' missing from a loaded config");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> parts = embedflow::fuzz::split_parts(data, size, 9);
  embedflow::LoadOptions options;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    if (!part.empty() && part[0] == '$') {
      const size_t eq = part.find('=');
      if (eq != std::string::npos) options.env[part.substr(1, eq - 1)] = part.substr(eq + 1);
    } else {
      options.overrides.push_back(part);
    }
  }
  // The pipeline's folder is the working directory: no relative path depends on where the
  // fuzzer runs (and the loader's own default, from the file name, is "." too).
  options.env.emplace("PIPELINE_DIR", ".");
  try {
    const embedflow::PipelineConfig cfg =
        embedflow::load_pipeline_string(parts[0], "fuzz.yaml", registry(), options);
    check_config(cfg);
  } catch (const embedflow::ConfigError& e) {
    check_error(e);
  } catch (const std::exception& e) {
    fail(std::string("the loader threw ") + typeid(e).name() +
         " instead of ConfigError: " + e.what());
  }
  return 0;
}
