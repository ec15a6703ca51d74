// Renders stage schemas for people: `embedflow stages TYPE` (text) and docs/stages.md (markdown).
#pragma once

#include <string>

#include "embedflow/registry.h"

namespace embedflow {

std::string render_stage_text(const StageSchema& schema);
std::string render_stage_list(const Registry& registry);  // one line per type
std::string render_reference_markdown(const Registry& registry);

// "ints 1..64, default 8" style description of a parameter's type and constraints.
std::string describe_param(const ParamSpec& p);

}  // namespace embedflow
