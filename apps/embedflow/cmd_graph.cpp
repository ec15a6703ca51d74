// `embedflow graph FILE`: the pipeline as a Graphviz DOT graph (stage kinds as shapes, edges
// labelled with the kind of item that flows).
#include <iostream>
#include <memory>

#include "apps/embedflow/commands.h"

namespace embedflow::cli {

namespace {

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

const char* node_shape(StageKind kind) {
  switch (kind) {
    case StageKind::Source:
      return "invhouse";
    case StageKind::Sink:
      return "house";
    case StageKind::Reduce:
      return "octagon";
    case StageKind::Batch:
      return "box3d";
    case StageKind::Map:
      return "box";
  }
  return "box";
}

std::string render_dot(const PipelineConfig& cfg) {
  std::string out = "digraph \"" + dot_escape(cfg.name.empty() ? "pipeline" : cfg.name) + "\" {\n";
  out += "  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  for (const auto& s : cfg.stages)
    out += "  \"" + dot_escape(s.id) + "\" [label=\"" + dot_escape(s.id) + "\\n" +
           dot_escape(s.type) + "\", shape=" + node_shape(s.stage_type->schema.kind) + "];\n";
  for (const auto& s : cfg.stages) {
    const StageSchema& schema = s.stage_type->schema;
    for (size_t p = 0; p < s.inputs.size(); ++p) {
      const StageConfig* up = cfg.find(s.inputs[p]);
      std::string label = up ? kind_name(up->output) : "";
      if (schema.inputs.size() > 1 && p < schema.inputs.size())
        label += " → " + schema.inputs[p].name;
      out += "  \"" + dot_escape(s.inputs[p]) + "\" -> \"" + dot_escape(s.id) + "\" [label=\"" +
             dot_escape(label) + "\"];\n";
    }
  }
  return out + "}\n";
}

struct GraphArgs {
  std::string file;
  std::vector<std::string> overrides;
};

}  // namespace

void add_graph_command(CLI::App& app, CommandList& commands, const Registry& registry) {
  auto a = std::make_shared<GraphArgs>();
  auto* cmd = app.add_subcommand("graph", "Print the pipeline as a Graphviz DOT graph");
  cmd->add_option("file", a->file, "Pipeline YAML")->required()->check(CLI::ExistingFile);
  add_set_option(cmd, a->overrides);
  commands.push_back({cmd, [a, &registry] {
                        LoadOptions load_options;
                        load_options.overrides = a->overrides;
                        std::cout << render_dot(
                            load_pipeline_file(a->file, registry, load_options));
                        return kExitOk;
                      }});
}

}  // namespace embedflow::cli
