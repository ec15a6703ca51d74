// The `test:` section: its schema for the engine's loader, and the tolerances it yields.
#include "embedflow/regression/settings.h"

#include <algorithm>

#include "embedflow/regression/taps.h"
#include "embedflow/strings.h"
#include "embedflow/suggest.h"

namespace embedflow::regression {

namespace {

// The keys of a tolerance: with defaults at the top of the section; without in an `outputs:`
// entry, so that what it leaves unset is absent and inherits the section's value.
std::vector<ParamSpec> tolerance_fields(bool with_defaults) {
  const Tolerance d;
  std::vector<ParamSpec> fields = {
      ParamSpec::number("min_cosine", d.min_cosine)
          .range(-1, 1)
          .describe("Per row of a float array: the cosine of golden and current at least this"),
      ParamSpec::number("atol", d.atol)
          .range(0, std::nullopt)
          .describe("Per element: |current - golden| <= atol + rtol * |golden|"),
      ParamSpec::number("rtol", d.rtol)
          .range(0, std::nullopt)
          .describe("Per element, relative to the golden value"),
  };
  if (!with_defaults)
    for (auto& f : fields) f.no_default();
  return fields;
}

// The outputs a tolerance can be given for: writers, and the stages with `tap: true`.
std::vector<Diagnostic> check_output_ids(const PipelineConfig& config, const Params& section) {
  std::vector<Diagnostic> errors;
  if (!section.has("outputs")) return errors;
  std::vector<std::string> names;
  for (const auto& sc : config.stages)
    if ((sc.stage_type && sc.stage_type->schema.kind == StageKind::Sink) || sc.tap)
      names.push_back(sc.id);
  const Json& outputs = section.raw("outputs");
  for (auto it = outputs.begin(); it != outputs.end(); ++it) {
    const std::string& id = it.key();
    if (std::find(names.begin(), names.end(), id) != names.end()) continue;
    std::string hint = did_you_mean(id, names);
    if (hint.empty() && !names.empty()) hint = "; writers and taps: " + join(names, ", ");
    errors.push_back({Diagnostic::Severity::Error, section.where("outputs." + id), "",
                      std::string(kTestSection) + ".outputs." + id +
                          ": no writer or tapped stage has id '" + id + "'" + hint});
  }
  return errors;
}

Tolerance read_tolerance(const Params& block, Tolerance base) {
  if (block.has("min_cosine")) base.min_cosine = block.get_float("min_cosine");
  if (block.has("atol")) base.atol = block.get_float("atol");
  if (block.has("rtol")) base.rtol = block.get_float("rtol");
  return base;
}

Json tolerance_json(const Tolerance& t) {
  return {{"min_cosine", t.min_cosine}, {"atol", t.atol}, {"rtol", t.rtol}};
}

}  // namespace

void register_test_section(Registry& registry) {
  SectionSpec spec;
  spec.name = kTestSection;
  spec.fields = tolerance_fields(true);
  spec.fields.push_back(
      ParamSpec::map("outputs", tolerance_fields(false))
          .describe("Tolerances per writer stage id (or tapped stage id); unset keys inherit "
                    "the section's"));
  spec.check = check_output_ids;
  registry.add_section(std::move(spec));
}

TestSettings test_settings(const PipelineConfig& config) {
  TestSettings s;
  const Params* section = config.section(kTestSection);
  if (!section) return s;
  s.defaults = read_tolerance(*section, s.defaults);
  if (!section->has("outputs")) return s;
  const Params outputs = section->block("outputs");
  for (auto it = outputs.values().begin(); it != outputs.values().end(); ++it) {
    Tolerance t = read_tolerance(outputs.block(it.key()), s.defaults);
    s.outputs[it.key()] = t;
    // A tapped stage's tolerance applies to its tap writer.
    const StageConfig* sc = config.find(it.key());
    if (sc && sc->tap) s.outputs[tap_writer_id(it.key())] = t;
  }
  return s;
}

Tolerance TestSettings::for_output(const std::string& stage_id) const {
  auto it = outputs.find(stage_id);
  return it != outputs.end() ? it->second : defaults;
}

Json TestSettings::to_json() const {
  Json j = tolerance_json(defaults);
  Json per = Json::object();
  for (const auto& [id, t] : outputs) per[id] = tolerance_json(t);
  j["outputs"] = per;
  return j;
}

}  // namespace embedflow::regression
