#include "embedflow/registry.h"

#include <algorithm>
#include <stdexcept>

#include "embedflow/suggest.h"

namespace embedflow {

void Registry::add(StageSchema schema, StageFactory factory) {
  std::string name = schema.type;
  if (types_.count(name)) throw std::logic_error("stage type registered twice: " + name);
  types_.emplace(name, StageType{std::move(schema), std::move(factory)});
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

std::vector<std::string> Registry::suggest(const std::string& type) const {
  return closest_names(type, types());
}

}  // namespace embedflow
