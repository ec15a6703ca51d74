#include "stages/index/register.h"

#include "stages/common/stage_library.h"
#include "stages/index/search_index.h"
#include "stages/index/write_index.h"

namespace embedflow {

void register_index_stages(Registry& registry) {
  add_stage_from_library(registry, write_index_schema(), "vector_index");
  add_stage_from_library(registry, search_index_schema(), "vector_index");
}

}  // namespace embedflow
