// write.png: renders spectrograms and images as PNG files for people to look at.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include "embedflow/schema.h"
#include "embedflow/stage.h"

#include "stages/audio/spectrogram_image.h"

namespace embedflow {

StageSchema write_png_schema();

class WritePngStage : public SinkStage {
 public:
  explicit WritePngStage(const Params& params);
  void write(const Item& item) override;
  void finish(bool complete) override { (void)complete; }
  std::vector<std::string> outputs() const override { return outputs_; }

  // The image write() would save for `item`, BGR u8 (exposed for tests).
  cv::Mat render(const Item& item) const;

 private:
  std::string dir_;
  SpectrogramScaling scaling_;
  int colormap_;  // -1: gray
  int height_;    // 0: one pixel row per frequency bin
  bool axes_;
  std::vector<std::string> outputs_;
  std::set<std::string> written_;  // paths written this run
};

// "a/b.wav" → "<dir>/a/b.wav.png"; ids that climb out of dir ("../x", "/etc/x") are flattened.
std::string png_path_for(const std::string& dir, const std::string& id);

}  // namespace embedflow
