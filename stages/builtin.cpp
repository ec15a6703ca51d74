#include "stages/builtin.h"

#include "stages/aggregate/register.h"
#include "stages/audio/register.h"
#include "stages/clip/register.h"
#include "stages/debug/register.h"
#include "stages/image/register.h"
#include "stages/index/register.h"
#include "stages/io/register.h"
#include "stages/score/register.h"
#include "stages/text/register.h"

namespace embedflow {

void register_builtin_stages(Registry& registry) {
  register_io_stages(registry);
  register_debug_stages(registry);
  register_text_stages(registry);
  register_score_stages(registry);
  register_audio_stages(registry);
  register_image_stages(registry);
  register_clip_stages(registry);
  register_aggregate_stages(registry);
  register_index_stages(registry);
}

}  // namespace embedflow
