// Stage types by name, and the top-level sections of pipeline files that layers above the engine
// declare. Built-in stages are added explicitly by register_builtin_stages() (stages/builtin.h)
// — no static constructors, so a static link keeps them all.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

struct PipelineConfig;

using StageFactory = std::function<std::unique_ptr<Stage>(const Params&)>;

struct StageType {
  StageSchema schema;
  StageFactory factory;
  // The factory loads a shared library on first use (the model stages and libtorch): what needs
  // no instance (validate's preflight) checks the schema alone and does not construct the stage.
  bool on_demand = false;
};

// A top-level section of pipeline files that a layer above the engine gives meaning to (`test:`,
// for regression tests). The engine knows no section itself: it validates the ones declared here
// with the same machinery as stage parameters (types, ranges, did-you-mean, file:line:column,
// `${VAR}`, `--set <section>.<key>=…`) and keeps them, defaults filled, in
// PipelineConfig::sections. A section that no layer declared is an unknown top-level key.
struct SectionSpec {
  std::string name;
  std::vector<ParamSpec> fields;
  // Checks that need the loaded stages (an entry that must name a writer), run after the stages
  // are validated; diagnostics are located with the section's Params::where. May be empty.
  std::function<std::vector<Diagnostic>(const PipelineConfig&, const Params& section)> check;
};

class Registry {
 public:
  // Throws std::logic_error on a duplicate type name.
  void add(StageSchema schema, StageFactory factory, bool on_demand = false);
  const StageType* find(const std::string& type) const;
  std::vector<std::string> types() const;  // sorted
  // Up to three registered names close to `type` (edit distance), best first.
  std::vector<std::string> suggest(const std::string& type) const;

  // Throws std::logic_error on a duplicate section name.
  void add_section(SectionSpec section);
  const SectionSpec* find_section(const std::string& name) const;
  const std::map<std::string, SectionSpec>& sections() const { return sections_; }

 private:
  std::map<std::string, StageType> types_;
  std::map<std::string, SectionSpec> sections_;
};

// Convenience for the common case: `add_stage<MyStage>(reg, my_schema())` where MyStage has a
// constructor taking `const Params&`.
template <class S>
void add_stage(Registry& reg, StageSchema schema) {
  reg.add(std::move(schema),
          [](const Params& p) -> std::unique_ptr<Stage> { return std::make_unique<S>(p); });
}

}  // namespace embedflow
