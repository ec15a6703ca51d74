#include "embedflow/registry.h"

#include <algorithm>
#include <stdexcept>

#include "embedflow/suggest.h"

namespace embedflow {

void Registry::add(StageSchema schema, StageFactory factory, bool on_demand) {
  std::string name = schema.type;
  // Parameters the engine itself interprets, declared here so every batch/model stage documents
  // and validates them the same way.
  if (schema.kind == StageKind::Batch && !schema.find_param("batch_size"))
    schema.params.push_back(ParamSpec::integer("batch_size", schema.default_batch_size)
                                .range(1, 65536)
                                .describe("Items per call; the engine forms batches in source "
                                          "order and never pads them"));
  if (schema.uses_model_threads && !schema.find_param("threads"))
    schema.params.push_back(ParamSpec::integer("threads", 0)
                                .range(0, 1024)
                                .describe("Intra-op threads per model call; 0 = the run's plan "
                                          "(one, with a batch per thread of the stage's share, or "
                                          "share ÷ concurrency when `concurrency` is given)"));
  if (types_.count(name)) throw std::logic_error("stage type registered twice: " + name);
  types_.emplace(name, StageType{std::move(schema), std::move(factory), on_demand});
}

const StageType* Registry::find(const std::string& type) const {
  auto it = types_.find(type);
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::types() const {
  std::vector<std::string> out;
  for (const auto& kv : types_) out.push_back(kv.first);
  return out;
}

void Registry::add_section(SectionSpec section) {
  std::string name = section.name;
  if (!sections_.emplace(name, std::move(section)).second)
    throw std::logic_error("pipeline section registered twice: " + name);
}

const SectionSpec* Registry::find_section(const std::string& name) const {
  auto it = sections_.find(name);
  return it == sections_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::suggest(const std::string& type) const {
  return closest_names(type, types());
}

}  // namespace embedflow
