#include "stages/text/register.h"

#include "stages/text/encode_text.h"
#include "stages/text/text_stats.h"

namespace embedflow {

void register_text_stages(Registry& registry) {
  add_stage<TextStats>(registry, text_stats_schema());
  add_stage<EncodeText>(registry, encode_text_schema());
}

}  // namespace embedflow
