#include "embedflow/params.h"

namespace embedflow {

Params::Params(std::string stage_id, Json values, std::map<std::string, SourceLocation> locations)
    : stage_id_(std::move(stage_id)),
      values_(std::move(values)),
      locations_(std::move(locations)) {}

bool Params::has(const std::string& key) const {
  auto it = values_.find(key);
  return it != values_.end() && !it->is_null();
}

const Json& Params::at(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end() || it->is_null())
    throw error(key, "parameter '" + prefix_ + key + "' is not set");
  return *it;
}

bool Params::get_bool(const std::string& key) const {
  return at(key).get<bool>();
}
int64_t Params::get_int(const std::string& key) const {
  return at(key).get<int64_t>();
}
double Params::get_float(const std::string& key) const {
  return at(key).get<double>();
}
std::string Params::get_string(const std::string& key) const {
  return at(key).get<std::string>();
}
std::vector<std::string> Params::get_strings(const std::string& key) const {
  return at(key).get<std::vector<std::string>>();
}
std::vector<double> Params::get_floats(const std::string& key) const {
  return at(key).get<std::vector<double>>();
}
const Json& Params::raw(const std::string& key) const {
  return at(key);
}

Params Params::block(const std::string& key) const {
  Params p(stage_id_, at(key), locations_);
  p.prefix_ = prefix_ + key + ".";
  return p;
}

SourceLocation Params::where(const std::string& key) const {
  auto it = locations_.find(prefix_ + key);
  if (it != locations_.end()) return it->second;
  it = locations_.find("");  // the stage's own position
  return it != locations_.end() ? it->second : SourceLocation{};
}

ConfigError Params::error(const std::string& key, const std::string& message) const {
  return ConfigError(where(key), stage_id_, message);
}

}  // namespace embedflow
