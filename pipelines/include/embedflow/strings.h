// Tiny string helpers shared by the engine and the layers above it.
#pragma once

#include <string>
#include <vector>

namespace embedflow {

// "a, b, c" from {"a", "b", "c"} and ", ". With `max` > 0, at most that many parts, then
// "… (N more)" for a list too long to print whole.
inline std::string join(const std::vector<std::string>& parts, const std::string& sep,
                        size_t max = 0) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (max && i == max) return out + sep + "… (" + std::to_string(parts.size() - max) + " more)";
    out += (i ? sep : "") + parts[i];
  }
  return out;
}

}  // namespace embedflow
