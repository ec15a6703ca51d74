// audio.load: a file → Audio f32 [channels, samples] with libsndfile, optionally resampled with
// libsoxr. Every libsndfile failure becomes an error for that file only.
#pragma once

#include <optional>
#include <string>

#include "embedflow/schema.h"
#include "embedflow/stage.h"

namespace embedflow {

StageSchema load_schema();

// The container formats this libsndfile build reads ("WAV (.wav), FLAC (.flac), ...").
std::string sndfile_supported_formats();

class LoadStage : public ItemStage {
 public:
  explicit LoadStage(const Params& params);
  void process(const Item& in, Item& out) override;

 private:
  std::optional<int> sample_rate_;  // unset: keep the file's rate
  unsigned long quality_recipe_;
  bool mono_;
  std::optional<int> channel_;
  double offset_;
  std::optional<double> duration_;
  double max_duration_;  // 0: no limit
  bool peak_normalize_;
  bool allow_truncated_;
};

}  // namespace embedflow
