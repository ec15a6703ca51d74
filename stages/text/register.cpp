#include "stages/text/register.h"

#include "stages/common/stage_library.h"
#include "stages/text/encode_text.h"
#include "stages/text/text_stats.h"
#include "stages/text/tokenize.h"

namespace embedflow {

void register_text_stages(Registry& registry) {
  register_text_stats_stage(registry);
  add_stage_from_library(registry, encode_text_schema(), "model_stages");
  add_stage<TextTokenize>(registry, text_tokenize_schema());
}

}  // namespace embedflow
