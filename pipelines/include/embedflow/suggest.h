// "Did you mean …" for unknown names.
#pragma once

#include <string>
#include <vector>

namespace embedflow {

size_t edit_distance(const std::string& a, const std::string& b);
// Up to `max` candidates within a distance that scales with the name's length, best first.
std::vector<std::string> closest_names(const std::string& name,
                                       const std::vector<std::string>& candidates, size_t max = 3);
// " (did you mean 'x'?)" or "".
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace embedflow
