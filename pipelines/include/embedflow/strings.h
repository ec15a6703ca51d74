// Tiny string helpers shared by the engine and the layers above it.
#pragma once

#include <string>
#include <vector>

namespace embedflow {

// "a, b, c" from {"a", "b", "c"} and ", ".
inline std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

}  // namespace embedflow
