// Validated, default-filled parameters of one stage, with the YAML location of each value so a
// stage can report a bad value (a model path that does not exist) where the user wrote it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "embedflow/errors.h"
#include "embedflow/item.h"

namespace embedflow {

class Params {
 public:
  Params() = default;
  Params(std::string stage_id, Json values, std::map<std::string, SourceLocation> locations);

  // True when the key holds a value (given or defaulted).
  bool has(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  std::vector<double> get_floats(const std::string& key) const;
  // A nested block (ParamType::Block); throws when absent.
  Params block(const std::string& key) const;
  const Json& raw(const std::string& key) const;
  const Json& values() const { return values_; }

  // Where the value came from ("pipeline.yaml:12:7", or the stage's own line when defaulted).
  SourceLocation where(const std::string& key) const;
  // A ConfigError located at `key`, for stages that reject a value at open() time.
  ConfigError error(const std::string& key, const std::string& message) const;
  const std::string& stage_id() const { return stage_id_; }

 private:
  const Json& at(const std::string& key) const;
  std::string stage_id_;
  Json values_ = Json::object();
  std::map<std::string, SourceLocation> locations_;  // "key" and "block.key"
  std::string prefix_;                               // "mel." inside a block
};

}  // namespace embedflow
