// Stage types by name. Built-in stages are added explicitly by register_builtin_stages()
// (stages/builtin.h) — no static constructors, so a static link keeps them all.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

using StageFactory = std::function<std::unique_ptr<Stage>(const Params&)>;

struct StageType {
  StageSchema schema;
  StageFactory factory;
};

class Registry {
 public:
  // Throws std::logic_error on a duplicate type name.
  void add(StageSchema schema, StageFactory factory);
  const StageType* find(const std::string& type) const;
  std::vector<std::string> types() const;  // sorted
  // Up to three registered names close to `type` (edit distance), best first.
  std::vector<std::string> suggest(const std::string& type) const;

 private:
  std::map<std::string, StageType> types_;
};

// Convenience for the common case: `add_stage<MyStage>(reg, my_schema())` where MyStage has a
// constructor taking `const Params&`.
template <class S>
void add_stage(Registry& reg, StageSchema schema) {
  reg.add(std::move(schema),
          [](const Params& p) -> std::unique_ptr<Stage> { return std::make_unique<S>(p); });
}

}  // namespace embedflow
