// `embedflow stages [TYPE] [--markdown]`: the stage reference, rendered from the schemas.
#include <iostream>
#include <memory>

#include "apps/embedflow/commands.h"
#include "embedflow/schema_doc.h"

namespace embedflow::cli {

namespace {

struct StagesArgs {
  std::string type;
  bool markdown = false;
};

int stages(const StagesArgs& a, const Registry& registry) {
  if (a.markdown) {
    std::cout << render_reference_markdown(registry);
  } else if (a.type.empty()) {
    std::cout << render_stage_list(registry);
  } else if (const auto* t = registry.find(a.type)) {
    std::cout << render_stage_text(t->schema);
  } else {
    auto s = registry.suggest(a.type);
    std::cerr << "unknown stage type '" << a.type << "'"
              << (s.empty() ? "" : " (did you mean '" + s[0] + "'?)") << "\n";
    return kExitInvalid;
  }
  return kExitOk;
}

}  // namespace

void add_stages_command(CLI::App& app, CommandList& commands, const Registry& registry) {
  auto a = std::make_shared<StagesArgs>();
  auto* cmd = app.add_subcommand("stages", "List stage types, or show one's parameters");
  cmd->add_option("type", a->type, "A stage type, e.g. audio.spectrogram");
  cmd->add_flag("--markdown", a->markdown,
                "Render the full reference as Markdown (docs/stages.md)");
  commands.push_back({cmd, [a, &registry] { return stages(*a, registry); }});
}

}  // namespace embedflow::cli
