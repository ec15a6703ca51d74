#include "embedflow/run_identity.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "embedflow/hash.h"

namespace fs = std::filesystem;

namespace embedflow {

std::string config_hash(const PipelineConfig& config) {
  Json stages = Json::array();
  for (const auto& sc : config.stages) {
    if (sc.generated) continue;
    stages.push_back({{"id", sc.id},
                      {"type", sc.type},
                      {"inputs", sc.inputs},
                      {"params", sc.params.values()},
                      {"tap", sc.tap}});
  }
  // nlohmann::json keeps object keys sorted, so dump() is canonical.
  return sha256_hex(stages.dump(-1, ' ', false, Json::error_handler_t::replace));
}

namespace {

bool defines_model(const fs::path& file) {
  static const std::set<std::string> kExtensions = {".safetensors", ".pt",  ".ts",   ".bin",
                                                    ".json",        ".txt", ".model"};
  return kExtensions.count(file.extension().string()) > 0;
}

Json hash_model(const std::string& spec, const ModelResolver& resolve) {
  Json entry = {{"path", spec}};
  std::string local = resolve ? resolve(spec) : spec;
  if (!local.empty() && local != spec) entry["resolved"] = local;
  Json files = Json::object();
  std::error_code ec;
  if (!local.empty() && fs::is_regular_file(local, ec)) {
    files[fs::path(local).filename().string()] = sha256_file(local);
  } else if (!local.empty() && fs::is_directory(local, ec)) {
    std::vector<fs::path> found;
    for (auto it = fs::recursive_directory_iterator(local, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      // Download bookkeeping (.cache/huggingface) says nothing about the model.
      if (it->path().filename().string().rfind('.', 0) == 0) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && defines_model(it->path())) found.push_back(it->path());
    }
    std::sort(found.begin(), found.end());
    for (const auto& f : found)
      files[f.lexically_relative(local).generic_string()] = sha256_file(f.string());
  } else {
    entry["missing"] = true;
  }
  entry["files"] = files;
  return entry;
}

void visit(const std::vector<ParamSpec>& specs, const Json& values, const std::string& prefix,
           const ModelResolver& resolve, Json& out) {
  if (!values.is_object()) return;
  for (const ParamSpec& spec : specs) {
    auto it = values.find(spec.name);
    if (it == values.end()) continue;
    if (spec.type == ParamType::Block) {
      visit(spec.fields, *it, prefix + spec.name + ".", resolve, out);
    } else if (spec.role == PathRole::Model && it->is_string()) {
      out[prefix + spec.name] = hash_model(it->get<std::string>(), resolve);
    }
  }
}

}  // namespace

Json model_hashes(const PipelineConfig& config, const ModelResolver& resolve) {
  Json out = Json::object();
  for (const auto& sc : config.stages)
    if (sc.stage_type)
      visit(sc.stage_type->schema.params, sc.params.values(), sc.id + ".", resolve, out);
  return out;
}

RunIdentity run_identity(const PipelineConfig& config, const ModelResolver& resolve) {
  return {config_hash(config), model_hashes(config, resolve)};
}

}  // namespace embedflow
