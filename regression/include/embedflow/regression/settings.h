// The `test:` section of a pipeline file: the tolerances `embedflow test` compares outputs with.
// The section is declared to the engine's loader (register_test_section), which validates it like
// stage parameters; test_settings() reads the validated values.
#pragma once

#include <map>
#include <string>

#include "embedflow/config.h"
#include "embedflow/registry.h"

namespace embedflow::regression {

constexpr const char* kTestSection = "test";

struct Tolerance {
  double min_cosine = 0.9999;  // per row of an array
  double atol = 1e-5;          // |current - golden| <= atol + rtol * |golden|, per element
  double rtol = 0.0;
};

struct TestSettings {
  Tolerance defaults;
  // By writer stage id, or a tapped stage's id (and its tap writer's id, which the report names).
  std::map<std::string, Tolerance> outputs;
  // The tolerance for the outputs of writer `stage_id`.
  Tolerance for_output(const std::string& stage_id) const;
  Json to_json() const;
};

// Declares `test:` (min_cosine, atol, rtol, and `outputs:` — blocks of the same keys by writer or
// tapped stage id, whose unset keys inherit the section's) and its check that every `outputs:`
// entry names a writer or a tapped stage. Every command that loads pipelines needs it, or a
// `test:` section is an unknown top-level key.
void register_test_section(Registry& registry);

// The validated section of a pipeline loaded with a registry that declares it; the defaults
// when the registry does not.
TestSettings test_settings(const PipelineConfig& config);

}  // namespace embedflow::regression
