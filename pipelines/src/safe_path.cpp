#include "embedflow/safe_path.h"

namespace embedflow {

std::string safe_relative_path(const std::string& name) {
  std::string out, part;
  auto flush = [&] {
    if (part.empty() || part == ".") {
      part.clear();
      return;
    }
    if (part == "..") part = "__";
    out += (out.empty() ? "" : "/") + part;
    part.clear();
  };
  for (char c : name) {
    if (c == '/' || c == '\\')
      flush();
    else
      part += c == '\0' ? '_' : c;
  }
  flush();
  return out;
}

}  // namespace embedflow
