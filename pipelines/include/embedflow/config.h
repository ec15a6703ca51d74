// Pipeline files: YAML → a validated PipelineConfig. Every problem is collected as a Diagnostic
// with file:line:column before anything heavy is loaded.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "embedflow/registry.h"

namespace embedflow {

enum class OnError { Skip, Fail };

struct StageConfig {
  std::string id;
  std::string type;
  std::vector<std::string> inputs;  // upstream stage ids, in port order
  Params params;
  int concurrency = 1;             // 0 = unlimited
  bool concurrency_given = false;  // by the file or --set, not the schema's default
  OnError on_error = OnError::Skip;
  bool tap = false;
  bool generated = false;  // added by a layer above (a regression tap's writer), not by the user
  SourceLocation where;    // the stage's `- id:` line
  const StageType* stage_type = nullptr;
  Kind output = Kind::None;
};

struct PipelineConfig {
  std::string name;
  std::string file;                 // path of the YAML ("" when parsed from a string)
  int threads = 0;                  // 0 = all cores
  int max_in_flight = 0;            // 0 = engine default
  std::string errors_path;          // "" = <output dir>/errors.jsonl
  std::vector<StageConfig> stages;  // in file order
  // Every section the registry declares (Registry::add_section), validated and default-filled
  // whether the file has it or not, by name.
  std::map<std::string, Params> sections;
  std::vector<Diagnostic> warnings;

  const StageConfig* find(const std::string& id) const;
  // nullptr when the registry the file was loaded with declares no such section.
  const Params* section(const std::string& name) const;
};

struct LoadOptions {
  std::vector<std::string> overrides;      // "stage_id.param=value" or "section.key=value" (YAML)
  std::map<std::string, std::string> env;  // extra variables for ${…} (tests); else getenv
};

// Parses and validates; throws ConfigError with every diagnostic found.
PipelineConfig load_pipeline_file(const std::string& path, const Registry& registry,
                                  const LoadOptions& options = {});
PipelineConfig load_pipeline_string(const std::string& yaml, const std::string& name_for_messages,
                                    const Registry& registry, const LoadOptions& options = {});

// Validates one stage's params (a JSON object) against its schema, fills defaults and returns
// them. Used by the YAML loader and by code/tests that build stages directly.
Params resolve_params(const StageSchema& schema, const std::string& stage_id, const Json& values);

}  // namespace embedflow
