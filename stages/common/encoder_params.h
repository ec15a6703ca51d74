// Parameters the encoder stages declare alike, for their schemas (torch-free: the schemas are
// registered without the model stages' library).
#pragma once

#include <string>

#include "embedflow/schema.h"

namespace embedflow {

// The `precision` parameter of every transformer-encoding stage (models::Precision): its
// choices and what each does; `scope` adds what it applies to in that stage.
ParamSpec precision_param(const std::string& scope);

}  // namespace embedflow
