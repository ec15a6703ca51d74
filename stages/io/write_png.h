// write.png: renders spectrograms and images as PNG files for people to look at.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include "embedflow/schema.h"
#include "embedflow/stage.h"

#include "stages/audio/spectrogram_image.h"
#include "stages/io/plot.h"

namespace embedflow {

StageSchema write_png_schema();

class WritePngStage : public SinkStage {
 public:
  explicit WritePngStage(const Params& params);
  void write(const Item& item) override;
  void finish(bool complete) override { (void)complete; }
  std::vector<std::string> outputs() const override { return outputs_; }

  // Where render() put things, for tests: the spectrogram's image area and colour bar on the
  // canvas, and the ticks (pos in pixels from the image area's left edge for time, from its
  // low-frequency edge for frequency, from the bar's bottom for the colour bar).
  struct Layout {
    cv::Rect image, colour_bar;
    std::vector<plot::Tick> time, freq, bar;
    plot::Font font;
  };
  // The image write() would save for `item`, BGR u8 (exposed for tests).
  cv::Mat render(const Item& item, Layout* layout = nullptr) const;

 private:
  // The spectrogram area (already coloured) framed by title, ticks and colour bar.
  cv::Mat decorate(const cv::Mat& area, const Item& item, int bins, int frames,
                   Layout* layout) const;

  std::string dir_;
  SpectrogramScaling scaling_;
  int colormap_;        // -1: gray
  int height_, width_;  // of the image area; 0: automatic (one pixel per bin/frame when bare)
  bool axes_, colour_bar_;
  std::string title_;  // "{id}" is replaced by the item's id
  bool htk_mel_;       // mel axis spacing when the spectrogram's meta does not say
  std::vector<std::string> outputs_;
  std::set<std::string> written_;  // paths written this run
};

// "a/b.wav" → "<dir>/a/b.wav.png"; ids that climb out of dir ("../x", "/etc/x") are flattened.
std::string png_path_for(const std::string& dir, const std::string& id);

}  // namespace embedflow
