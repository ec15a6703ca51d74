// write.heatmap: the rows of a similarity matrix (score.cosine, output: matrix) as one PNG.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "stages/io/plot.h"

namespace embedflow {

StageSchema write_heatmap_schema();

struct HeatmapOptions {
  int colormap = -1;           // OpenCV colormap id, -1 gray
  bool min_max = true;         // else [lo, hi]
  double lo = -1.0, hi = 1.0;  // scale: range
  std::string title;
  int cell = 0;          // pixels per cell; 0: automatic
  int label_chars = 24;  // labels longer than this are cut in the middle
  enum class Values { Auto, Always, Never } values = Values::Auto;
};

// Where render_heatmap put things, for tests.
struct HeatmapLayout {
  cv::Rect matrix;  // cell (r, c) is at matrix.x + c·cell, matrix.y + r·cell
  int cell = 0;
  double lo = 0, hi = 0;  // the values at the colormap's ends
  cv::Rect colour_bar;
  struct Label {
    int index;         // row or column
    std::string text;  // as drawn
    cv::Rect box;      // on the canvas (an upright label: the turned box)
    bool upright;      // turned 90° to read bottom to top
  };
  std::vector<Label> row_labels, column_labels;
  bool values_written = false;
};

// The picture of a rows × cols row-major matrix, BGR u8.
cv::Mat render_heatmap(const HeatmapOptions& options, const std::vector<float>& values, int rows,
                       int cols, const std::vector<std::string>& row_labels,
                       const std::vector<std::string>& column_labels,
                       HeatmapLayout* layout = nullptr);

class WriteHeatmap : public SinkStage {
 public:
  explicit WriteHeatmap(const Params& params);
  void open(const StageContext& ctx) override;
  void write(const Item& item) override;
  void finish(bool complete) override;
  std::vector<std::string> outputs() const override { return outputs_; }

  static constexpr int kMaxSide = 4096;  // rows or columns: beyond, a picture is no help

 private:
  HeatmapOptions options_;
  std::string path_, columns_, stage_id_;
  struct Row {
    int64_t order;  // meta.query_index when present, else arrival
    std::string id;
    std::vector<float> values;
  };
  std::vector<Row> rows_;
  int64_t width_ = -1;
  bool finished_ = false;
  std::vector<std::string> outputs_;
};

}  // namespace embedflow
