// Shared by the io_* tests: building a stage straight from a schema and JSON params, draining
// sources, and asking the reference Python about files we wrote.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "embedflow/config.h"
#include "embedflow/registry.h"
#include "embedflow/stage.h"
#include "stages/debug/register.h"
#include "stages/io/register.h"
#include "stages/text/register.h"
#include "tests/support/test_support.h"

namespace embedflow::test {

// The io and debug stages and text.stats (what io_tests links: no libtorch), for pipelines built
// from YAML.
inline Registry io_registry() {
  Registry reg;
  register_io_stages(reg);
  register_debug_stages(reg);
  register_text_stats_stage(reg);
  return reg;
}

template <class S>
std::unique_ptr<S> make_stage(const StageSchema& schema, const Json& params,
                              const std::string& id = "s") {
  return std::make_unique<S>(resolve_params(schema, id, params));
}

inline StageContext context(const std::string& id = "s") {
  StageContext ctx;
  ctx.stage_id = id;
  return ctx;
}

// Opens a source and collects every item it yields.
inline std::vector<Item> drain(SourceStage& source, const std::string& id = "s") {
  source.open(context(id));
  std::vector<Item> items;
  for (;;) {
    Item item;
    item.index = items.size();
    if (!source.next(item)) break;
    items.push_back(std::move(item));
  }
  source.close();
  return items;
}

inline std::vector<std::string> ids_of(const std::vector<Item>& items) {
  std::vector<std::string> ids;
  for (const auto& it : items) ids.push_back(it.id);
  return ids;
}

// All diagnostics of a ConfigError as one string, for CHECK_THAT(... Contains(...)).
inline std::string all_messages(const ConfigError& e) {
  std::string s;
  for (const auto& d : e.diagnostics()) s += d.str() + "\n";
  return s;
}

// Runs a Python snippet with the reference interpreter (numpy, csv, json available); the
// snippet's stdout is returned. Fails the test when Python fails.
inline std::string python(const std::string& code, const TempDir& dir) {
  std::string script = dir.file("check.py");
  write_file(script, code);
  CommandResult r =
      run_command(std::string("'") + EMBEDFLOW_REFERENCE_PYTHON + "' '" + script + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

}  // namespace embedflow::test
