#include "embedflow/registry.h"
#include "stages/debug/register.h"
#include "stages/io/register.h"
#include "stages/text/register.h"
#include "tests/core/io_test_helpers.h"

using namespace embedflow;

TEST_CASE("io, debug and text.stats stages are registered with documented schemas",
          "[io][schema]") {
  Registry reg;
  register_io_stages(reg);
  register_debug_stages(reg);
  register_text_stats_stage(reg);
  for (const char* type : {"source.files", "source.text", "write.npy", "write.jsonl", "write.csv",
                           "text.stats", "debug.delay"}) {
    INFO(type);
    const StageType* st = reg.find(type);
    REQUIRE(st);
    CHECK_FALSE(st->schema.summary.empty());
    CHECK_FALSE(st->schema.doc.empty());
    for (const auto& p : st->schema.params) {
      INFO(p.name);
      CHECK_FALSE(p.doc.empty());
      if (p.type == ParamType::Enum) CHECK_FALSE(p.choices.empty());
    }
    bool is_source = st->schema.kind == StageKind::Source;
    CHECK(st->schema.inputs.empty() == is_source);
  }
}
