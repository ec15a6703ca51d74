#include "embedflow/schema.h"

#include "embedflow/params.h"

namespace embedflow {

const char* param_type_name(ParamType t) {
  switch (t) {
    case ParamType::Bool:
      return "bool";
    case ParamType::Int:
      return "int";
    case ParamType::Float:
      return "float";
    case ParamType::String:
      return "string";
    case ParamType::Path:
      return "path";
    case ParamType::Enum:
      return "enum";
    case ParamType::Strings:
      return "list of strings";
    case ParamType::Floats:
      return "list of numbers";
    case ParamType::Block:
      return "block";
    case ParamType::Map:
      return "map of blocks";
    case ParamType::Any:
      return "any";
  }
  return "?";
}

const char* path_role_name(PathRole r) {
  switch (r) {
    case PathRole::None:
      return "path";
    case PathRole::Input:
      return "input path";
    case PathRole::Model:
      return "model";
    case PathRole::OutputFile:
      return "output file";
    case PathRole::OutputDir:
      return "output folder";
  }
  return "?";
}

const char* stage_kind_name(StageKind k) {
  switch (k) {
    case StageKind::Source:
      return "source";
    case StageKind::Map:
      return "map";
    case StageKind::Batch:
      return "batch";
    case StageKind::Sink:
      return "sink";
    case StageKind::Reduce:
      return "reduce";
  }
  return "?";
}

static ParamSpec make(std::string name, ParamType type, Json def) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = type;
  p.default_value = std::move(def);
  return p;
}

ParamSpec ParamSpec::boolean(std::string name, bool def) {
  return make(std::move(name), ParamType::Bool, def);
}
ParamSpec ParamSpec::integer(std::string name, std::optional<int64_t> def) {
  return make(std::move(name), ParamType::Int, def ? Json(*def) : Json());
}
ParamSpec ParamSpec::number(std::string name, std::optional<double> def) {
  return make(std::move(name), ParamType::Float, def ? Json(*def) : Json());
}
ParamSpec ParamSpec::string(std::string name, std::optional<std::string> def) {
  return make(std::move(name), ParamType::String, def ? Json(*def) : Json());
}
ParamSpec ParamSpec::path(std::string name) {
  return make(std::move(name), ParamType::Path, Json());
}
static ParamSpec path_with_role(std::string name, PathRole role) {
  ParamSpec p = make(std::move(name), ParamType::Path, Json());
  p.role = role;
  return p;
}
ParamSpec ParamSpec::input_path(std::string name) {
  return path_with_role(std::move(name), PathRole::Input);
}
ParamSpec ParamSpec::model_path(std::string name) {
  return path_with_role(std::move(name), PathRole::Model);
}
ParamSpec ParamSpec::output_file(std::string name) {
  return path_with_role(std::move(name), PathRole::OutputFile);
}
ParamSpec ParamSpec::output_dir(std::string name) {
  return path_with_role(std::move(name), PathRole::OutputDir);
}
ParamSpec ParamSpec::enumeration(std::string name, std::string def,
                                 std::vector<std::string> choices) {
  ParamSpec p = make(std::move(name), ParamType::Enum, def.empty() ? Json() : Json(def));
  p.choices = std::move(choices);
  return p;
}
ParamSpec ParamSpec::strings(std::string name) {
  return make(std::move(name), ParamType::Strings, Json());
}
ParamSpec ParamSpec::floats(std::string name) {
  return make(std::move(name), ParamType::Floats, Json());
}
ParamSpec ParamSpec::block(std::string name, std::vector<ParamSpec> fields) {
  ParamSpec p = make(std::move(name), ParamType::Block, Json());
  p.fields = std::move(fields);
  return p;
}
ParamSpec ParamSpec::map(std::string name, std::vector<ParamSpec> fields) {
  ParamSpec p = make(std::move(name), ParamType::Map, Json());
  p.fields = std::move(fields);
  return p;
}
ParamSpec ParamSpec::any(std::string name) {
  return make(std::move(name), ParamType::Any, Json());
}

ParamSpec& ParamSpec::range(std::optional<double> lo, std::optional<double> hi) {
  min = lo;
  max = hi;
  return *this;
}
ParamSpec& ParamSpec::describe(std::string text) {
  doc = std::move(text);
  return *this;
}
ParamSpec& ParamSpec::require() {
  required = true;
  default_value = Json();
  return *this;
}
ParamSpec& ParamSpec::no_default() {
  default_value = Json();
  return *this;
}

const ParamSpec* StageSchema::find_param(const std::string& name) const {
  for (const auto& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<const ParamSpec*> StageSchema::params_with_role(PathRole role) const {
  std::vector<const ParamSpec*> out;
  for (const auto& p : params)
    if (p.role == role) out.push_back(&p);
  return out;
}

Kind StageSchema::output_kind(const Params& p) const {
  return output_for ? output_for(p) : output;
}

}  // namespace embedflow
