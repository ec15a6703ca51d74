// YAML pipeline files → validated PipelineConfig. The YAML tree is converted to JSON once, with
// the location of every value kept beside it, and everything after that (schema validation,
// graph checks) works on the JSON and reports through Diagnostics.
#include "embedflow/config.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "config_params.h"
#include "config_yaml.h"
#include "embedflow/strings.h"
#include "embedflow/suggest.h"

namespace embedflow {

namespace {

using namespace config_detail;

// ---------------------------------------------------------------------------------------------

// Besides these, the sections the registry declares (Registry::add_section).
const std::vector<std::string> kPipelineKeys = {
    "pipeline", "description", "threads", "max_in_flight", "errors", "on_error", "stages"};
const std::vector<std::string> kStageKeys = {
    "id", "type", "input", "inputs", "params", "concurrency", "on_error", "tap", "description"};
// `tap:` is a stage key, validated like a Bool parameter.
const ParamSpec kTapSpec = ParamSpec::boolean("tap", false);

// Sets `dotted` ("mel.n_mels") under the mapping `node`, creating the mappings on the way.
void set_nested(YAML::Node node, const std::string& dotted, const YAML::Node& value) {
  std::vector<std::string> parts;
  std::stringstream ss(dotted);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!node[parts[i]] || !node[parts[i]].IsMap())
      node[parts[i]] = YAML::Node(YAML::NodeType::Map);
    // reset() rebinds `node`; assigning would overwrite the mapping it refers to.
    node.reset(node[parts[i]]);
  }
  node[parts.back()] = value;
}

// Keys given twice in one mapping: YAML forbids them, yaml-cpp keeps the first silently.
void check_duplicate_keys(const YAML::Node& map, const std::string& stage, const std::string& file,
                          Diags& diags) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) continue;
    const YAML::Mark m = kv.first.Mark();
    if (!seen.insert(kv.first.Scalar()).second)
      diags.error(SourceLocation{file, m.line + 1, m.column + 1}, stage,
                  "duplicate key '" + kv.first.Scalar() + "' (the first one would be used)");
  }
}

// Stage ids name folders (a job's spool parts) and appear in messages and outputs: letters,
// digits and `_ . : -`, starting with a letter, digit or `_`, so that no id climbs out of a
// folder and `w` and `./w` are not two ids for one folder.
bool valid_stage_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  const auto ok = [](char c, bool first) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           (!first && (c == '.' || c == ':' || c == '-'));
  };
  for (size_t i = 0; i < id.size(); ++i)
    if (!ok(id[i], i == 0)) return false;
  return id.find("..") == std::string::npos;
}

// A YAML syntax error on a line holding `${` is nearly always an unquoted variable inside a flow
// mapping or list, where `{` and `}` are YAML's own.
std::string syntax_hint(const std::string& text, int line) {
  std::istringstream in(text);
  std::string l;
  for (int i = 0; i <= line && std::getline(in, l); ++i) {
  }
  if (l.find("${") == std::string::npos) return "";
  return " (a ${VAR} inside { … } or [ … ] must be quoted: \"${VAR}\")";
}

struct Loader {
  const Registry& registry;
  const LoadOptions& options;
  std::string file;
  Diags diags;
  std::vector<std::pair<YAML::Node, std::string>> override_nodes{};  // value, "--set" text

  SourceLocation at(const YAML::Node& n) const {
    YAML::Mark m = n.Mark();
    return m.line < 0 ? SourceLocation{file, 0, 0} : SourceLocation{file, m.line + 1, m.column + 1};
  }

  // --set a.b=c: top-level key, stage param or stage key, or a key of a declared section (a
  // stage id takes precedence over a section name).
  void apply_overrides(YAML::Node& root) {
    for (const auto& ov : options.overrides) {
      SourceLocation where{"--set " + ov, 0, 0};
      size_t eq = ov.find('=');
      if (eq == std::string::npos || eq == 0) {
        diags.error(where, "", "expected --set stage_id.param=value");
        continue;
      }
      std::string key = ov.substr(0, eq);
      if (key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos) {
        diags.error(where, "",
                    "the key '" + key + "' has an empty part; expected --set stage_id.param=value");
        continue;
      }
      YAML::Node value;
      try {
        value = YAML::Load(ov.substr(eq + 1));
      } catch (const YAML::Exception& e) {
        diags.error(where, "", "value is not valid YAML: " + e.msg);
        continue;
      }
      override_nodes.emplace_back(value, ov);
      size_t dot = key.find('.');
      if (dot == std::string::npos) {
        root[key] = value;
        continue;
      }
      std::string id = key.substr(0, dot), param = key.substr(dot + 1);
      YAML::Node stages = root["stages"];
      bool found = false;
      std::vector<std::string> ids;
      if (stages && stages.IsSequence()) {
        for (auto st : stages) {
          if (!st.IsMap() || !st["id"]) continue;
          ids.push_back(st["id"].Scalar());
          if (st["id"].Scalar() != id) continue;
          found = true;
          if (std::find(kStageKeys.begin(), kStageKeys.end(), param) != kStageKeys.end() &&
              param != "params") {
            st[param] = value;
            break;
          }
          if (!st["params"] || st["params"].IsNull())
            st["params"] = YAML::Node(YAML::NodeType::Map);
          // A scalar or a list has no key to set (yaml-cpp throws); the stage's own
          // "'params' must be a mapping" says what to fix.
          if (st["params"].IsMap()) set_nested(st["params"], param, value);
          break;
        }
      }
      if (!found && registry.find_section(id)) {
        found = true;
        if (!root[id] || root[id].IsNull()) root[id] = YAML::Node(YAML::NodeType::Map);
        // A section that is not a mapping is reported as such when the section is validated.
        if (root[id].IsMap()) set_nested(root[id], param, value);
      }
      if (!found) diags.error(where, id, "no stage with id '" + id + "'" + did_you_mean(id, ids));
    }
  }

  int parse_concurrency(const Json& v, const SourceLocation& where, const std::string& id) {
    if (v.is_string()) {
      std::string s = v.get<std::string>();
      if (s == "serial") return 1;
      if (s == "unlimited") return 0;
    } else if (v.is_number_integer() && v.get<int64_t>() >= 1) {
      return static_cast<int>(v.get<int64_t>());
    }
    diags.error(
        where, id,
        "concurrency must be serial, unlimited or a positive integer, got " + describe_value(v));
    return 1;
  }

  PipelineConfig load(const std::string& text) {
    PipelineConfig cfg;
    cfg.file = file;
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
      SourceLocation where{file, e.mark.line + 1, e.mark.column + 1};
      throw ConfigError(where, "", "YAML syntax error: " + e.msg + syntax_hint(text, e.mark.line));
    }
    if (!root || !root.IsMap())
      throw ConfigError(SourceLocation{file, 1, 1}, "",
                        "a pipeline file is a mapping with 'pipeline' and 'stages' keys");
    apply_overrides(root);

    std::map<std::string, std::string> env = options.env;
    if (!env.count("PIPELINE_DIR")) {
      std::filesystem::path p = file.empty() ? "." : std::filesystem::path(file).parent_path();
      env["PIPELINE_DIR"] = p.empty() ? "." : p.string();
    }
    Expander expander(env);
    Converter conv{file, expander, diags, ""};
    conv.overrides = override_nodes;
    check_duplicate_keys(root, "", file, diags);

    std::vector<std::string> top_keys = kPipelineKeys;
    for (const auto& section : registry.sections()) top_keys.push_back(section.first);
    for (const auto& kv : root) {
      std::string key = kv.first.Scalar();
      if (std::find(top_keys.begin(), top_keys.end(), key) == top_keys.end())
        diags.error(at(kv.first), "",
                    "unknown top-level key '" + key + "'" + did_you_mean(key, top_keys));
    }
    Locations top_locs;
    auto top_int = [&](const char* key, int64_t max, int& out) {
      if (!root[key]) return;
      Json v = conv.convert(root[key], key, top_locs);
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > max)
        diags.error(at(root[key]), "",
                    std::string(key) + " must be an integer from 0 to " + std::to_string(max) +
                        ", got " + describe_value(v));
      else
        out = static_cast<int>(v.get<int64_t>());
    };
    if (root["pipeline"] && root["pipeline"].IsScalar()) cfg.name = root["pipeline"].Scalar();
    top_int("threads", 1024, cfg.threads);  // as --threads
    top_int("max_in_flight", 10000000, cfg.max_in_flight);
    if (root["errors"]) {
      Json v = conv.convert(root["errors"], "errors", top_locs);
      if (v.is_string())
        cfg.errors_path = v.get<std::string>();
      else
        diags.error(at(root["errors"]), "", "errors must be a file path");
    }
    OnError default_on_error = OnError::Skip;
    auto parse_on_error = [&](const YAML::Node& n, const std::string& id, OnError& out) {
      std::string s = n.IsScalar() ? n.Scalar() : "";
      if (s == "skip")
        out = OnError::Skip;
      else if (s == "fail")
        out = OnError::Fail;
      else
        diags.error(at(n), id, "on_error must be skip or fail, got \"" + s + "\"");
    };
    if (root["on_error"]) parse_on_error(root["on_error"], "", default_on_error);

    YAML::Node stages = root["stages"];
    if (!stages) {
      diags.error(SourceLocation{file, 1, 1}, "", "missing 'stages': the list of stages to run");
      throw ConfigError(diags.list);
    }
    if (!stages.IsSequence()) {
      diags.error(at(stages), "", "'stages' must be a list of stages (each '- id: …')");
      throw ConfigError(diags.list);
    }

    std::set<std::string> seen_ids;
    std::map<std::string, SourceLocation> input_locs;  // "stage#i" → location of the input name
    for (const auto& st : stages) {
      StageConfig sc;
      sc.where = at(st);
      sc.on_error = default_on_error;
      if (!st.IsMap()) {
        diags.error(sc.where, "", "each stage is a mapping with at least 'id' and 'type'");
        continue;
      }
      sc.id = st["id"] && st["id"].IsScalar() ? st["id"].Scalar() : "";
      check_duplicate_keys(st, sc.id, file, diags);
      if (sc.id.empty())
        diags.error(sc.where, "", "stage has no 'id'");
      else if (!valid_stage_id(sc.id))
        diags.error(at(st["id"]), "",
                    "stage id '" + sc.id +
                        "' may hold only letters, digits and _ . : - (starting with a letter, "
                        "digit or _, no '..'), at most 128 characters: ids name folders");
      else if (!seen_ids.insert(sc.id).second)
        diags.error(at(st["id"]), sc.id, "duplicate stage id '" + sc.id + "'");
      conv.stage = sc.id;

      sc.type = st["type"] && st["type"].IsScalar() ? st["type"].Scalar() : "";
      if (sc.type.empty()) {
        diags.error(sc.where, sc.id, "stage has no 'type'");
      } else {
        sc.stage_type = registry.find(sc.type);
        if (!sc.stage_type) {
          std::string hint;
          auto sugg = registry.suggest(sc.type);
          if (!sugg.empty()) hint = " (did you mean '" + sugg[0] + "'?)";
          diags.error(
              at(st["type"]), sc.id,
              "unknown stage type '" + sc.type + "'" + hint + "; `embedflow stages` lists them");
        }
      }
      for (const auto& kv : st) {
        std::string key = kv.first.Scalar();
        if (std::find(kStageKeys.begin(), kStageKeys.end(), key) != kStageKeys.end()) continue;
        std::string msg = "unknown stage key '" + key + "'";
        if (sc.stage_type && sc.stage_type->schema.find_param(key))
          msg += ": '" + key + "' is a parameter of " + sc.type + ", put it under 'params:'";
        else
          msg += did_you_mean(key, kStageKeys);
        diags.error(at(kv.first), sc.id, msg);
      }
      if (st["input"] && st["inputs"])
        diags.error(at(st["inputs"]), sc.id, "give either 'input' or 'inputs', not both");
      auto add_input = [&](const YAML::Node& n) {
        if (!n.IsScalar()) {
          diags.error(at(n), sc.id, "an input is a stage id");
          return;
        }
        input_locs[sc.id + "#" + std::to_string(sc.inputs.size())] = at(n);
        sc.inputs.push_back(n.Scalar());
      };
      if (st["input"]) add_input(st["input"]);
      if (st["inputs"]) {
        if (st["inputs"].IsSequence())
          for (const auto& n : st["inputs"]) add_input(n);
        else
          add_input(st["inputs"]);
      }
      if (st["concurrency"]) {
        Locations l;
        sc.concurrency = parse_concurrency(conv.convert(st["concurrency"], "concurrency", l),
                                           at(st["concurrency"]), sc.id);
        sc.concurrency_given = true;
      } else if (sc.stage_type) {
        const StageSchema& schema = sc.stage_type->schema;
        sc.concurrency = schema.default_concurrency;
        if (schema.max_concurrency > 0 &&
            (sc.concurrency == 0 || sc.concurrency > schema.max_concurrency))
          sc.concurrency = schema.max_concurrency;
      }
      if (st["on_error"]) parse_on_error(st["on_error"], sc.id, sc.on_error);
      if (st["tap"]) {
        Locations l;
        ParamValidator pv{sc.id, l, diags, sc.where, "key"};
        Json tap = pv.value(kTapSpec, conv.convert(st["tap"], "tap", l), "tap");
        sc.tap = tap.is_boolean() && tap.get<bool>();
      }

      Locations locs;
      Json given = Json::object();
      if (st["params"]) {
        if (!st["params"].IsMap() && !st["params"].IsNull())
          diags.error(at(st["params"]), sc.id, "'params' must be a mapping");
        else if (st["params"].IsMap())
          given = conv.convert(st["params"], "", locs);
      }
      locs[""] = sc.where;
      if (sc.stage_type) {
        const StageSchema& schema = sc.stage_type->schema;
        ParamValidator pv{sc.id, locs, diags, sc.where};
        Json values = pv.object(schema.params, given, "");
        sc.params = Params(sc.id, values, locs);
        if (schema.max_concurrency > 0 &&
            (sc.concurrency == 0 || sc.concurrency > schema.max_concurrency))
          diags.error(st["concurrency"] ? at(st["concurrency"]) : sc.where, sc.id,
                      "concurrency " +
                          (sc.concurrency == 0 ? std::string("unlimited")
                                               : std::to_string(sc.concurrency)) +
                          " exceeds what " + sc.type + " allows (" +
                          std::to_string(schema.max_concurrency) + ")");
      }
      cfg.stages.push_back(std::move(sc));
    }
    conv.stage.clear();
    for (const auto& [name, spec] : registry.sections())
      cfg.sections.emplace(name, load_section(spec, root[name], conv));
    check_graph(cfg, input_locs);
    for (const auto& [name, spec] : registry.sections())
      if (spec.check)
        for (auto& d : spec.check(cfg, cfg.sections.at(name))) diags.list.push_back(std::move(d));
    for (const auto& d : diags.list)
      if (d.severity == Diagnostic::Severity::Warning) cfg.warnings.push_back(d);
    if (diags.has_errors()) throw ConfigError(diags.list);
    return cfg;
  }

  // A declared section, validated like a stage's params; messages name its keys with the
  // section's prefix ("key 'test.atol' must be >= 0"). Absent from the file: defaults.
  Params load_section(const SectionSpec& spec, const YAML::Node& node, Converter& conv) {
    const std::string& name = spec.name;
    const SourceLocation where = node ? at(node) : SourceLocation{file, 0, 0};
    Locations locs;
    Json given = node ? conv.convert(node, name, locs) : Json();
    if (given.is_null()) given = Json::object();  // `test:` with nothing under it
    if (!given.is_object()) {
      std::vector<std::string> keys;
      for (const auto& f : spec.fields) keys.push_back(f.name);
      diags.error(where, "",
                  "'" + name + "' must be a mapping of " + join(keys, ", ") + ", got " +
                      describe_value(given));
      given = Json::object();
    }
    const std::string no_stage;
    ParamValidator pv{no_stage, locs, diags, where, "key"};
    Json values = pv.object(spec.fields, given, name + ".");
    // Params name values relative to the section ("atol", "outputs.embed").
    Locations relative;
    for (const auto& [path, loc] : locs)
      if (path.rfind(name + ".", 0) == 0) relative[path.substr(name.size() + 1)] = loc;
    relative[""] = where;
    return Params("", values, relative);
  }

  void check_graph(PipelineConfig& cfg, const std::map<std::string, SourceLocation>& input_locs) {
    std::map<std::string, size_t> index;
    std::vector<std::string> ids;
    for (size_t i = 0; i < cfg.stages.size(); ++i) {
      index[cfg.stages[i].id] = i;
      ids.push_back(cfg.stages[i].id);
    }
    // Default input: the previous stage. Then check arity and that the ids exist.
    for (size_t i = 0; i < cfg.stages.size(); ++i) {
      StageConfig& sc = cfg.stages[i];
      if (!sc.stage_type) continue;
      const StageSchema& schema = sc.stage_type->schema;
      bool is_source = schema.kind == StageKind::Source;
      if (is_source) {
        if (!sc.inputs.empty())
          diags.error(sc.where, sc.id, sc.type + " is a source and takes no input");
        continue;
      }
      if (sc.inputs.empty()) {
        if (i == 0) {
          diags.error(sc.where, sc.id,
                      "has no input: the first stage must be a source (source.files, "
                      "source.text, …) or name its 'input'");
          continue;
        }
        sc.inputs.push_back(cfg.stages[i - 1].id);
      }
      size_t required = 0;
      for (const auto& port : schema.inputs)
        if (!port.optional) ++required;
      if (sc.inputs.size() < required || sc.inputs.size() > schema.inputs.size()) {
        std::vector<std::string> port_names;
        for (const auto& port : schema.inputs) port_names.push_back(port.name);
        diags.error(
            sc.where, sc.id,
            sc.type + " takes " +
                (required == schema.inputs.size()
                     ? std::to_string(required)
                     : std::to_string(required) + " to " + std::to_string(schema.inputs.size())) +
                " input(s) (" + join(port_names, ", ") + "), got " +
                std::to_string(sc.inputs.size()));
      }
    }
    // Output kinds (now that params are known), input existence and port compatibility.
    for (auto& sc : cfg.stages)
      if (sc.stage_type) sc.output = sc.stage_type->schema.output_kind(sc.params);
    // Pass-through stages (output None, not a writer) produce what they are given; resolve
    // along the inputs until nothing changes (inputs may name later stages).
    for (size_t round = 0; round < cfg.stages.size(); ++round) {
      bool changed = false;
      for (auto& sc : cfg.stages) {
        if (!sc.stage_type || sc.output != Kind::None || sc.inputs.empty()) continue;
        const StageSchema& schema = sc.stage_type->schema;
        if (schema.kind == StageKind::Sink || schema.output_for) continue;
        auto it = index.find(sc.inputs[0]);
        if (it == index.end()) continue;
        Kind up = cfg.stages[it->second].output;
        if (up != Kind::None) {
          sc.output = up;
          changed = true;
        }
      }
      if (!changed) break;
    }
    std::set<std::string> consumed;
    for (auto& sc : cfg.stages) {
      if (!sc.stage_type) continue;
      const StageSchema& schema = sc.stage_type->schema;
      for (size_t p = 0; p < sc.inputs.size(); ++p) {
        const std::string& up = sc.inputs[p];
        auto lit = input_locs.find(sc.id + "#" + std::to_string(p));
        SourceLocation where = lit != input_locs.end() ? lit->second : sc.where;
        auto it = index.find(up);
        if (it == index.end()) {
          diags.error(where, sc.id, "input '" + up + "' is not a stage id" + did_you_mean(up, ids));
          continue;
        }
        consumed.insert(up);
        const StageConfig& u = cfg.stages[it->second];
        if (!u.stage_type || p >= schema.inputs.size()) continue;
        if (u.stage_type->schema.kind == StageKind::Sink) {
          diags.error(where, sc.id,
                      "input '" + up + "' is a writer (" + u.type + ") and has no output");
          continue;
        }
        const PortSpec& port = schema.inputs[p];
        if (!port.accepts.empty() &&
            std::find(port.accepts.begin(), port.accepts.end(), u.output) == port.accepts.end()) {
          std::vector<std::string> names;
          for (Kind k : port.accepts) names.push_back(kind_name(k));
          diags.error(where, sc.id,
                      "input '" + up + "' (" + u.type + ") produces " + kind_name(u.output) +
                          ", but port '" + port.name + "' of " + sc.type + " accepts " +
                          join(names, " or "));
        }
      }
    }
    // Cycles (only possible through explicit inputs).
    std::vector<int> state(cfg.stages.size(), 0);  // 0 new, 1 on stack, 2 done
    std::vector<std::string> stack;
    std::function<bool(size_t)> visit = [&](size_t i) -> bool {
      if (state[i] == 2) return false;
      if (state[i] == 1) {
        auto from = std::find(stack.begin(), stack.end(), cfg.stages[i].id);
        std::vector<std::string> cycle(from, stack.end());
        cycle.push_back(cfg.stages[i].id);
        diags.error(cfg.stages[i].where, cfg.stages[i].id, "cycle: " + join(cycle, " -> "));
        return true;
      }
      state[i] = 1;
      stack.push_back(cfg.stages[i].id);
      for (const auto& up : cfg.stages[i].inputs) {
        auto it = index.find(up);
        if (it != index.end() && visit(it->second)) return true;
      }
      stack.pop_back();
      state[i] = 2;
      return false;
    };
    for (size_t i = 0; i < cfg.stages.size(); ++i)
      if (state[i] == 0 && visit(i)) break;
    // Outputs nobody uses.
    for (const auto& sc : cfg.stages) {
      if (!sc.stage_type || sc.stage_type->schema.kind == StageKind::Sink) continue;
      if (!consumed.count(sc.id))
        diags.warning(sc.where, sc.id, "output is not used by any stage (add a writer?)");
    }
  }
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec(errno, std::generic_category());
    throw ConfigError(SourceLocation{path, 0, 0}, "", "cannot read pipeline file: " + ec.message());
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

const StageConfig* PipelineConfig::find(const std::string& id) const {
  for (const auto& s : stages)
    if (s.id == id) return &s;
  return nullptr;
}

const Params* PipelineConfig::section(const std::string& name) const {
  auto it = sections.find(name);
  return it == sections.end() ? nullptr : &it->second;
}

PipelineConfig load_pipeline_file(const std::string& path, const Registry& registry,
                                  const LoadOptions& options) {
  Loader loader{registry, options, path, {}};
  return loader.load(read_text_file(path));
}

PipelineConfig load_pipeline_string(const std::string& yaml, const std::string& name_for_messages,
                                    const Registry& registry, const LoadOptions& options) {
  Loader loader{registry, options, name_for_messages, {}};
  return loader.load(yaml);
}

Params resolve_params(const StageSchema& schema, const std::string& stage_id, const Json& values) {
  Diags diags;
  Locations locs;
  ParamValidator pv{stage_id, locs, diags, SourceLocation{"<code>", 0, 0}};
  Json filled = pv.object(schema.params, values.is_null() ? Json::object() : values, "");
  if (diags.has_errors()) throw ConfigError(diags.list);
  return Params(stage_id, filled, locs);
}

}  // namespace embedflow
