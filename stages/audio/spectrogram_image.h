// spectrogram.image: Spectrogram [F, T] → ImageTensor f32 [3, height, width] for an image
// encoder (scaling, low frequencies at the bottom, 1→3 channels, resize, mean/std).
#pragma once

#include <optional>
#include <string>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "stages/common/normalization.h"

namespace embedflow {

StageSchema spectrogram_image_schema();

// Settings shared with write.png: how spectrogram values become [0, 1] pixel intensities.
struct SpectrogramScaling {
  bool min_max = true;          // per item; else the fixed range below
  double lo = -80.0, hi = 0.0;  // for range scaling (dB by default)
  bool flip = true;             // row 0 of the image is the highest frequency
};
// [F, T] (or [1, F, T]) → row-major F×T floats in [0, 1], flipped if asked. Throws ItemFailure
// on other shapes.
std::vector<float> scale_spectrogram(const Tensor& spec, const SpectrogramScaling& s, int& rows,
                                     int& cols);
// OpenCV colormap id for a name ("viridis", "magma", ...); -1 for "gray"/unknown.
int colormap_id(const std::string& name);
const std::vector<std::string>& colormap_names();  // includes "gray"

class SpectrogramImageStage : public ItemStage {
 public:
  explicit SpectrogramImageStage(const Params& params);
  void process(const Item& in, Item& out) override;

 private:
  SpectrogramScaling scaling_;
  int colormap_ = -1;   // -1: replicate the intensity into three channels
  int height_, width_;  // 0: keep
  int interpolation_;
  std::optional<MeanStd> mean_std_;
};

}  // namespace embedflow
