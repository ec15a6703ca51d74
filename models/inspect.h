// `embedflow inspect PATH`: what a model file or folder holds. Torch-free header.
#pragma once

#include <string>

namespace embedflow::models {

// Resolved files, detected architecture, parameter count, metadata and a tensor table
// (name, dtype, shape). Throws ModelError when the path or the file is unusable.
std::string inspect_model(const std::string& path);

}  // namespace embedflow::models
