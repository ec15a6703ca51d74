// Reading numbers from a model's JSON files (config.json, preprocessor_config.json) with bounds
// far above any published model: a broken or hostile file must not size allocations before the
// weights are checked against it. Torch-free.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "models/safetensors.h"

namespace embedflow::models {

// j[key] as an integer in [lo, hi]; `fallback` when the key is absent or null. Throws ModelError
// naming `where`, the key, the bounds and what was found.
inline int64_t config_int(const nlohmann::json& j, const char* key, int64_t fallback, int64_t lo,
                          int64_t hi, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number_integer() || j[key].get<int64_t>() < lo || j[key].get<int64_t>() > hi)
    throw ModelError(where + ": \"" + key + "\" must be an integer from " + std::to_string(lo) +
                     " to " + std::to_string(hi) + ", found " + j[key].dump());
  return j[key].get<int64_t>();
}

}  // namespace embedflow::models
