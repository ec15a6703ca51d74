#include "stages/audio/register.h"

#include "stages/audio/fbank.h"
#include "stages/audio/load.h"
#include "stages/audio/segment.h"
#include "stages/audio/spectrogram.h"
#include "stages/audio/spectrogram_image.h"

namespace embedflow {

void register_audio_stages(Registry& registry) {
  add_stage<LoadStage>(registry, load_schema());
  add_stage<SpectrogramStage>(registry, spectrogram_schema());
  add_stage<FbankStage>(registry, fbank_schema());
  add_stage<SpectrogramImageStage>(registry, spectrogram_image_schema());
  add_stage<SegmentStage>(registry, segment_schema());
}

}  // namespace embedflow
