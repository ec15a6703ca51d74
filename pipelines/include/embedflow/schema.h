// A stage's contract, declared apart from its code: ports, parameters (type, default, range,
// choices, doc). The engine validates pipeline files against it before anything is opened, and
// `embedflow stages --markdown` renders the reference docs from it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "embedflow/item.h"

namespace embedflow {

enum class ParamType {
  Bool,
  Int,
  Float,
  String,
  Path,     // a string that names a file or folder (docs and existence hints)
  Enum,     // a string from `choices`
  Strings,  // list of strings
  Floats,   // list of numbers
  Block,    // nested mapping with its own `fields`
  Map,      // mapping whose keys the user chooses (stage ids, names); each value is a block of
            // `fields`. Absent unless given; an entry written without a value is an empty block.
  Any,      // free-form JSON (validated by the stage itself in its factory)
};
const char* param_type_name(ParamType t);

// What a path parameter names, so the engine, `validate` and the run identity ask the schema
// instead of guessing from parameter names.
enum class PathRole {
  None,        // not a path, or a path the engine needs not know about (an FFTW wisdom cache)
  Input,       // a file or folder the stage reads items from (source.text's `file`)
  Model,       // a model file, folder or hub id (`org/name[@rev]`): part of the run identity
  OutputFile,  // a file the stage writes (write.npy's `path`); its folder is the output folder
  OutputDir,   // a folder the stage writes files into (write.png's `dir`)
};
const char* path_role_name(PathRole r);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::String;
  Json default_value;  // null: no default
  bool required = false;
  std::optional<double> min, max;  // inclusive bounds for Int/Float (and list elements)
  std::vector<std::string> choices;
  std::string doc;
  std::vector<ParamSpec> fields;  // for Block, and for each entry of a Map
  bool block_optional = true;     // a Block absent from the config stays absent (has() is false)
  PathRole role = PathRole::None;

  // Builders, so schemas read like a table.
  static ParamSpec boolean(std::string name, bool def);
  static ParamSpec integer(std::string name, std::optional<int64_t> def);
  static ParamSpec number(std::string name, std::optional<double> def);
  static ParamSpec string(std::string name, std::optional<std::string> def);
  static ParamSpec path(std::string name);  // role None; prefer the role builders below
  static ParamSpec input_path(std::string name);
  static ParamSpec model_path(std::string name);
  static ParamSpec output_file(std::string name);
  static ParamSpec output_dir(std::string name);
  static ParamSpec enumeration(std::string name, std::string def, std::vector<std::string> choices);
  static ParamSpec strings(std::string name);
  static ParamSpec floats(std::string name);
  static ParamSpec block(std::string name, std::vector<ParamSpec> fields);
  static ParamSpec map(std::string name, std::vector<ParamSpec> fields);
  static ParamSpec any(std::string name);

  ParamSpec& range(std::optional<double> lo, std::optional<double> hi);
  ParamSpec& describe(std::string text);
  ParamSpec& require();
  ParamSpec& no_default();  // optional with no default: has(name) is false unless set
};

enum class StageKind {
  Source,  // produces items (SourceStage)
  Map,     // transforms the items of one source item (ItemStage / GroupStage)
  Batch,   // transforms batches of items formed by the engine (BatchStage)
  Sink,    // writes items in source order (SinkStage)
  Reduce,  // consumes whole input streams, then emits a new stream (ReduceStage)
};
const char* stage_kind_name(StageKind k);

struct PortSpec {
  std::string name;
  std::vector<Kind> accepts;  // empty: any kind
  std::string doc;
  bool optional = false;  // trailing ports may be left unconnected (score.cosine's corpus)
};

class Params;

struct StageSchema {
  std::string type;  // "audio.spectrogram"
  StageKind kind = StageKind::Map;
  std::string summary;  // one line
  std::string doc;      // longer text (markdown allowed)
  std::vector<PortSpec> inputs;
  Kind output = Kind::None;  // None for sinks
  // When the output kind depends on parameters (e.g. encode.image with `layer`).
  std::function<Kind(const Params&)> output_for;
  std::vector<ParamSpec> params;

  // Concurrency: how many items this stage may process at once by default, and at most.
  // 0 means unlimited.
  int default_concurrency = 0;
  int max_concurrency = 0;
  // Batch stages: the engine adds `batch_size` (and model stages `threads`) params itself.
  int default_batch_size = 32;
  bool uses_model_threads = false;  // stage runs libtorch and takes a share of the core budget

  const ParamSpec* find_param(const std::string& name) const;
  // Top-level parameters with `role`, in schema order.
  std::vector<const ParamSpec*> params_with_role(PathRole role) const;
  Kind output_kind(const Params& p) const;
};

}  // namespace embedflow
