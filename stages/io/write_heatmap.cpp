#include "stages/io/write_heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgproc.hpp>

#include "embedflow/atomic_file.h"
#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "stages/audio/spectrogram_image.h"
#include "stages/io/png_encode.h"

namespace embedflow {

StageSchema write_heatmap_schema() {
  StageSchema s;
  s.type = "write.heatmap";
  s.kind = StageKind::Sink;
  s.summary = "Write a similarity matrix (score.cosine rows) as one PNG heatmap.";
  s.doc =
      "Takes the rows score.cosine emits with `output: matrix` (one Embedding f32 `[M]` per "
      "query, in `meta.query_index` order) and draws the N × M matrix: cells coloured with "
      "`colormap` (a perceptual one by default), a colour bar with its values, rows labelled "
      "with the item ids and columns with the ids too when the matrix is square (all-vs-all), "
      "else with their numbers (`columns`). Labels longer than `label_chars` are cut in the "
      "middle; column labels are turned upright; when cells are smaller than a line of text "
      "only every k-th row and column is labelled so labels never overlap. Cells show their "
      "values (two decimals) when they are big enough (`values`). Cells are about 760 / "
      "max(N, M) pixels (`cell`), so 2 × 2 to a few hundred rows give pictures of a few hundred "
      "to about a thousand pixels; at most 4096 rows or columns. The file appears whole "
      "(written, then renamed); an interrupted run never replaces a complete earlier picture.";
  s.inputs = {{"in", {Kind::Embedding}, "rows of a score matrix (score.cosine, output: matrix)"}};
  s.output = Kind::None;
  s.params = {
      ParamSpec::output_file("path").require().describe("Output .png file."),
      ParamSpec::enumeration("colormap", "viridis", colormap_names())
          .describe("Colormap of the cells (viridis, magma, inferno, plasma: perceptual)."),
      ParamSpec::enumeration("scale", "min-max", {"min-max", "range"})
          .describe("Colours from the matrix's min to max, or over the fixed `range`."),
      ParamSpec::floats("range").describe("[lo, hi] for scale: range (default [-1, 1])."),
      ParamSpec::string("title", "cosine similarity")
          .describe("Title above the matrix (\"\": none)."),
      ParamSpec::enumeration("columns", "auto", {"auto", "ids", "numbers"})
          .describe("Column labels: auto (the row ids when the matrix is square, else numbers), "
                    "ids (the row ids: all-vs-all), numbers (0..M-1: corpus order)."),
      ParamSpec::integer("label_chars", 24)
          .range(4, 200)
          .describe("Longest label in characters; longer ids are cut in the middle."),
      ParamSpec::enumeration("values", "auto", {"auto", "always", "never"})
          .describe("Write each cell's value in it: auto when the cells are big enough."),
      ParamSpec::integer("cell", 0).range(0, 200).describe(
          "Cell size in pixels (0: automatic, about 760 / max(N, M), 1..72)."),
  };
  s.default_concurrency = 1;
  s.max_concurrency = 1;
  return s;
}

namespace {

// Labels as Hershey fonts can draw them (ASCII; one '?' per other character), at most `chars`
// long, cut in the middle so both the start and the end stay, more of the end: that is where
// file names differ ("exam..Front_Center.wav").
std::string label_text(const std::string& id, int chars) {
  std::string ascii;
  for (unsigned char b : id) {
    if ((b & 0xC0) == 0x80) continue;  // UTF-8 continuation byte
    ascii += b < 0x20 || b >= 0x7F ? '?' : static_cast<char>(b);
  }
  if (static_cast<int>(ascii.size()) <= chars) return ascii;
  const size_t keep = static_cast<size_t>(chars - 2), head = keep / 3, tail = keep - head;
  return ascii.substr(0, head) + ".." + ascii.substr(ascii.size() - tail);
}

std::string fit_width(const std::string& text, int max_width, const plot::Font& font) {
  if (plot::text_box(text, font).width <= max_width) return text;
  for (int chars = static_cast<int>(text.size()) - 1; chars > 4; --chars) {
    const std::string cut = label_text(text, chars);
    if (plot::text_box(cut, font).width <= max_width) return cut;
  }
  return "";
}

}  // namespace

cv::Mat render_heatmap(const HeatmapOptions& o, const std::vector<float>& values, int rows,
                       int cols, const std::vector<std::string>& row_ids,
                       const std::vector<std::string>& column_ids, HeatmapLayout* layout) {
  const plot::Font font;
  const plot::Font title_font{font.face, 0.55, 1};
  const cv::Scalar ink(0, 0, 0);
  const int text_h = plot::text_box("Ag", font).height;

  double lo = o.lo, hi = o.hi;
  if (o.min_max) {
    lo = INFINITY, hi = -INFINITY;
    for (float v : values)
      if (std::isfinite(v)) lo = std::min<double>(lo, v), hi = std::max<double>(hi, v);
    if (!(lo <= hi)) lo = hi = 0;
  }
  const int cell = o.cell ? o.cell : std::clamp(760 / std::max(rows, cols), 1, 72);
  // Every k-th row and column is labelled: labels one text line apart at least.
  const int every = std::max(1, (text_h + 2 + cell - 1) / cell);

  std::vector<std::string> rlabels(static_cast<size_t>(rows)), clabels(static_cast<size_t>(cols));
  int rlabel_w = 0, clabel_w = 0;
  for (int r = 0; r < rows; r += every) {
    rlabels[static_cast<size_t>(r)] = label_text(row_ids[static_cast<size_t>(r)], o.label_chars);
    rlabel_w = std::max(rlabel_w, plot::text_box(rlabels[static_cast<size_t>(r)], font).width);
  }
  for (int c = 0; c < cols; c += every) {
    clabels[static_cast<size_t>(c)] = label_text(column_ids[static_cast<size_t>(c)], o.label_chars);
    clabel_w = std::max(clabel_w, plot::text_box(clabels[static_cast<size_t>(c)], font).width);
  }

  // Values in cells: two decimals in a font that fits the widest ("-0.00") with a margin.
  plot::Font value_font{font.face, cell >= 56 ? 0.45 : 0.35, 1};
  const cv::Size widest = plot::text_box("-0.00", value_font);
  const bool values_fit = widest.width + 4 <= cell && widest.height + 2 <= cell;
  const bool write_values = o.values == HeatmapOptions::Values::Always ||
                            (o.values == HeatmapOptions::Values::Auto && values_fit);

  const int mw = cols * cell, mh = rows * cell;
  const int bar_h = std::max(mh, 120), bar_w = 16;
  const std::vector<plot::Tick> bticks = plot::colour_bar_ticks(lo, hi, bar_h, font);
  const int left = 10 + rlabel_w + 8;
  const int top = (o.title.empty() ? 10 : plot::text_box("Ag", title_font).height + 20);
  const int right = 24 + bar_w + 8 + plot::widest_label(bticks, font) + 12;
  // Column labels lie flat when they all fit their columns (numbers, short ids), else upright.
  const bool upright = clabel_w + 4 > cell * every;
  const int bottom = 8 + (upright ? clabel_w : text_h) + 10;
  const int width = left + mw + right;
  const int height = top + std::max(mh + bottom, bar_h + 10);
  cv::Mat canvas(height, width, CV_8UC3, cv::Scalar(255, 255, 255));

  const std::vector<cv::Vec3b> lut = plot::colormap_lut(o.colormap);
  const double span = hi - lo;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const float v = values[static_cast<size_t>(r) * cols + c];
      cv::Vec3b colour(200, 200, 200);  // NaN: neutral gray
      if (!std::isnan(v)) {
        const double f = span > 0 ? std::clamp((v - lo) / span, 0.0, 1.0) : 1.0;
        colour = lut[static_cast<size_t>(std::lround(f * 255))];
      }
      const cv::Rect box(left + c * cell, top + r * cell, cell, cell);
      canvas(box).setTo(cv::Scalar(colour[0], colour[1], colour[2]));
      if (!write_values) continue;
      char text[32];
      std::snprintf(text, sizeof text, "%.2f", v);
      // Dark cells get white text, light ones black (Rec. 601 luma of the cell colour).
      const double luma = 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2];
      const cv::Scalar pen = luma < 128 ? cv::Scalar(255, 255, 255) : ink;
      const cv::Size s = plot::text_box(text, value_font);
      plot::draw_text(canvas, text, {box.x + (cell - s.width) / 2, box.y + (cell - s.height) / 2},
                      pen, value_font);
    }
  cv::rectangle(canvas, cv::Rect(left - 1, top - 1, mw + 2, mh + 2), ink);

  HeatmapLayout out;
  for (int r = 0; r < rows; r += every) {
    const std::string& t = rlabels[static_cast<size_t>(r)];
    const cv::Size s = plot::text_box(t, font);
    const cv::Rect box(left - 6 - s.width, top + r * cell + cell / 2 - s.height / 2, s.width,
                       s.height);
    plot::draw_text(canvas, t, box.tl(), ink, font);
    if (every > 1 || cell >= 6)
      cv::line(canvas, {left - 4, top + r * cell + cell / 2}, {left - 2, top + r * cell + cell / 2},
               ink);
    out.row_labels.push_back({r, t, box, false});
  }
  for (int c = 0; c < cols; c += every) {
    const std::string& t = clabels[static_cast<size_t>(c)];
    const cv::Size s = plot::text_box(t, font);
    const int centre = left + c * cell + cell / 2;
    if (upright) {
      const cv::Rect box(centre - s.height / 2, top + mh + 8, s.height, s.width);
      plot::draw_text_up(canvas, t, box.tl(), ink, font);
      out.column_labels.push_back({c, t, box, true});
    } else {
      const cv::Rect box(centre - s.width / 2, top + mh + 8, s.width, s.height);
      plot::draw_text(canvas, t, box.tl(), ink, font);
      out.column_labels.push_back({c, t, box, false});
    }
  }

  const cv::Rect bar(left + mw + 24, top, bar_w, bar_h);
  plot::draw_colour_bar(canvas, bar, o.colormap, bticks, "", font);
  if (!o.title.empty()) {
    const std::string shown = fit_width(o.title, width - 16, title_font);
    const cv::Size s = plot::text_box(shown, title_font);
    const int x = std::clamp(left + mw / 2 - s.width / 2, 8, std::max(8, width - 8 - s.width));
    plot::draw_text(canvas, shown, {x, 10}, ink, title_font);
  }
  if (layout) {
    out.matrix = cv::Rect(left, top, mw, mh);
    out.cell = cell;
    out.lo = lo;
    out.hi = hi;
    out.colour_bar = bar;
    out.values_written = write_values;
    *layout = std::move(out);
  }
  return canvas;
}

WriteHeatmap::WriteHeatmap(const Params& p) {
  path_ = p.get_string("path");
  options_.colormap = colormap_id(p.get_string("colormap"));
  options_.min_max = p.get_string("scale") == "min-max";
  if (p.has("range")) {
    const std::vector<double> r = p.get_floats("range");
    if (r.size() != 2 || !(r[0] < r[1]))
      throw p.error("range", "range must be [lo, hi] with lo < hi");
    options_.lo = r[0];
    options_.hi = r[1];
  }
  options_.title = p.get_string("title");
  options_.cell = static_cast<int>(p.get_int("cell"));
  options_.label_chars = static_cast<int>(p.get_int("label_chars"));
  const std::string v = p.get_string("values");
  options_.values = v == "always"  ? HeatmapOptions::Values::Always
                    : v == "never" ? HeatmapOptions::Values::Never
                                   : HeatmapOptions::Values::Auto;
  columns_ = p.get_string("columns");
}

void WriteHeatmap::open(const StageContext& ctx) {
  stage_id_ = ctx.stage_id;
}

void WriteHeatmap::write(const Item& item) {
  const Tensor& t = item.tensor;
  if (t.dtype() != DType::F32 || t.ndim() != 1)
    throw ItemFailure(
        "write.heatmap: expected a matrix row f32 [M] (score.cosine with output: "
        "matrix), got " +
        std::string(dtype_name(t.dtype())) + " " + t.shape_str());
  if (width_ < 0) width_ = t.dim(0);
  if (t.dim(0) != width_)
    throw ItemFailure("write.heatmap: row of " + std::to_string(t.dim(0)) +
                      " values, but the first row had " + std::to_string(width_));
  if (width_ > kMaxSide || static_cast<int64_t>(rows_.size()) >= kMaxSide)
    throw ItemFailure("write.heatmap: the matrix is larger than " + std::to_string(kMaxSide) +
                      " rows or columns; a picture of it would not be readable (write.npy "
                      "keeps it whole, score.cosine output: top_k lists the neighbours)");
  Row row;
  row.order = item.meta.is_object() && item.meta.contains("query_index")
                  ? item.meta["query_index"].get<int64_t>()
                  : static_cast<int64_t>(rows_.size());
  row.id = item.id;
  row.values.assign(t.data<float>(), t.data<float>() + t.dim(0));
  rows_.push_back(std::move(row));
}

void WriteHeatmap::finish(bool complete) {
  if (finished_) return;
  finished_ = true;
  if (rows_.empty() || width_ <= 0) return;  // nothing to draw: no file, no output listed
  std::stable_sort(rows_.begin(), rows_.end(),
                   [](const Row& a, const Row& b) { return a.order < b.order; });
  const int n = static_cast<int>(rows_.size()), m = static_cast<int>(width_);
  std::vector<float> values;
  values.reserve(static_cast<size_t>(n) * m);
  std::vector<std::string> ids;
  for (const Row& r : rows_) {
    values.insert(values.end(), r.values.begin(), r.values.end());
    ids.push_back(r.id);
  }
  const bool id_columns = columns_ == "ids" || (columns_ == "auto" && n == m);
  std::vector<std::string> column_ids;
  for (int c = 0; c < m; ++c)
    column_ids.push_back(id_columns && c < n ? ids[static_cast<size_t>(c)] : std::to_string(c));
  const cv::Mat img = render_heatmap(options_, values, n, m, ids, column_ids);
  const std::vector<uint8_t> png = encode_png(img.data, img.cols, img.rows, 3, img.step, true);
  AtomicFile f(path_);
  f.write(png.data(), png.size());
  // A partial matrix (an interrupted run) never replaces a complete picture: it lands beside it.
  outputs_.push_back(f.commit(complete));
}

}  // namespace embedflow
