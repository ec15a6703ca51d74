#include "stages/io/write_png.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <opencv2/imgproc.hpp>

#include "embedflow/atomic_file.h"
#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "embedflow/safe_path.h"
#include "stages/io/png_encode.h"

namespace fs = std::filesystem;

namespace embedflow {

StageSchema write_png_schema() {
  StageSchema s;
  s.type = "write.png";
  s.kind = StageKind::Sink;
  s.summary = "Write spectrograms and images as PNG files, to eyeball what a model sees.";
  s.doc =
      "One file per item: `<dir>/<item id>.png`. Spectrograms are scaled like spectrogram.image "
      "(`scale`, `range`, `flip`) and coloured with `colormap`.\n\n"
      "With `axes: true` the picture is a plot: a `title` (the item id by default), time ticks "
      "in seconds and frequency ticks in Hz at round values (1-2-5 steps, on the mel scale for "
      "mel spectrograms; the spectrogram's meta says which and the range), chosen from the room "
      "available so that labels never collide, and a colour bar with its values (the fixed "
      "`range`, or the item's min and max, in the spectrogram's units such as dB). `width` × "
      "`height` is the size of the spectrogram area itself; by default it is about two pixels "
      "per frame and per bin, within 480..1200 × 200..400 px. Without axes the file is the bare "
      "strip: one pixel per bin and frame unless `width`/`height` ask otherwise.\n\n"
      "Resizing averages when shrinking (a 10-minute clip fits its width) and repeats pixels "
      "when enlarging, so frames stay visible as blocks. Images (u8 RGB) are written as they "
      "are; image tensors are min-max scaled per item. Files appear whole (written, then "
      "renamed).";
  s.inputs = {{"in", {Kind::Spectrogram, Kind::Image, Kind::ImageTensor}, "what to render"}};
  s.output = Kind::None;
  s.params = {
      ParamSpec::output_dir("dir").require().describe("Output folder (created if missing)."),
      ParamSpec::enumeration("colormap", "magma", colormap_names())
          .describe("Colormap for spectrograms (gray: no colour)."),
      ParamSpec::enumeration("scale", "min-max", {"min-max", "range"})
          .describe("min-max per item, or the fixed `range`."),
      ParamSpec::floats("range").describe("[lo, hi] for scale: range (default [-80, 0] dB)."),
      ParamSpec::boolean("flip", true).describe("Low frequencies at the bottom."),
      ParamSpec::integer("height", 0)
          .range(0, 8192)
          .describe("Spectrogram area height in pixels (0: automatic; bare strip: one row per "
                    "bin)."),
      ParamSpec::integer("width", 0)
          .range(0, 16384)
          .describe("Spectrogram area width in pixels (0: automatic; bare strip: one column "
                    "per frame)."),
      ParamSpec::boolean("axes", false)
          .describe("Draw a plot: title, time and frequency ticks, colour bar (false: the bare "
                    "strip)."),
      ParamSpec::boolean("colorbar", true).describe("With axes: a colour bar with its values."),
      ParamSpec::string("title", "{id}")
          .describe("With axes: the title; `{id}` stands for the item id, \"\" for none."),
      ParamSpec::enumeration("mel_scale", "htk", {"htk", "slaney"})
          .describe("Mel formula for the frequency ticks of mel spectrograms whose meta has no "
                    "`mel_scale` (audio.spectrogram and audio.fbank write it)."),
  };
  s.default_concurrency = 1;
  s.max_concurrency = 1;
  return s;
}

std::string png_path_for(const std::string& dir, const std::string& id) {
  std::string rel = safe_relative_path(id);
  if (rel.empty()) rel = "item";
  return (fs::path(dir) / rel).string() + ".png";
}

WritePngStage::WritePngStage(const Params& p) {
  dir_ = p.get_string("dir");
  colormap_ = colormap_id(p.get_string("colormap"));
  scaling_.min_max = p.get_string("scale") == "min-max";
  if (p.has("range")) {
    const std::vector<double> r = p.get_floats("range");
    if (r.size() != 2 || !(r[0] < r[1]))
      throw p.error("range", "range must be [lo, hi] with lo < hi");
    scaling_.lo = r[0];
    scaling_.hi = r[1];
  }
  scaling_.flip = p.get_bool("flip");
  height_ = static_cast<int>(p.get_int("height"));
  width_ = static_cast<int>(p.get_int("width"));
  axes_ = p.get_bool("axes");
  colour_bar_ = p.get_bool("colorbar");
  title_ = p.get_string("title");
  htk_mel_ = p.get_string("mel_scale") == "htk";
}

namespace {

// One axis at a time: averaging when shrinking (no aliasing on long clips), repeating pixels
// when enlarging (each frame and bin stays a crisp block instead of a blur).
cv::Mat resize_to(const cv::Mat& in, int width, int height) {
  cv::Mat out = in;
  if (width != out.cols) {
    cv::Mat t;
    cv::resize(out, t, cv::Size(width, out.rows), 0, 0,
               width < out.cols ? cv::INTER_AREA : cv::INTER_NEAREST);
    out = t;
  }
  if (height != out.rows) {
    cv::Mat t;
    cv::resize(out, t, cv::Size(out.cols, height), 0, 0,
               height < out.rows ? cv::INTER_AREA : cv::INTER_NEAREST);
    out = t;
  }
  return out;
}

// `text` cut in the middle to at most `max_width` pixels ("long_fi..name.wav").
std::string fit_text(const std::string& text, int max_width, const plot::Font& font) {
  if (plot::text_box(text, font).width <= max_width) return text;
  for (size_t keep = text.size(); keep > 2; --keep) {
    const size_t head = keep / 2, tail = keep - head;
    const std::string cut = text.substr(0, head) + ".." + text.substr(text.size() - tail);
    if (plot::text_box(cut, font).width <= max_width) return cut;
  }
  return "..";
}

std::pair<double, double> finite_range(const Tensor& t) {
  const float* x = t.data<float>();
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < t.numel(); ++i)
    if (std::isfinite(x[i])) lo = std::min<double>(lo, x[i]), hi = std::max<double>(hi, x[i]);
  if (!(lo <= hi)) lo = hi = 0;
  return {lo, hi};
}

}  // namespace

cv::Mat WritePngStage::render(const Item& item, Layout* layout) const {
  const Tensor& t = item.tensor;
  if (item.kind == Kind::Image) {
    if (t.dtype() != DType::U8 || t.ndim() != 3 || t.dim(2) != 3)
      throw ItemFailure("expected an image u8 [height, width, 3], got " + t.shape_str());
    cv::Mat rgb(static_cast<int>(t.dim(0)), static_cast<int>(t.dim(1)), CV_8UC3,
                const_cast<uint8_t*>(t.data<uint8_t>()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    return bgr;
  }
  if (item.kind == Kind::ImageTensor) {
    if (t.dtype() != DType::F32 || t.ndim() != 3 || t.dim(0) != 3)
      throw ItemFailure("expected an image tensor f32 [3, height, width], got " + t.shape_str());
    const int h = static_cast<int>(t.dim(1)), w = static_cast<int>(t.dim(2));
    const float* x = t.data<float>();
    const auto [lo, hi] = std::minmax_element(x, x + t.numel());
    const float span = *hi - *lo > 0 ? *hi - *lo : 1.0f;
    cv::Mat bgr(h, w, CV_8UC3);
    const size_t plane = static_cast<size_t>(h) * w;
    for (int y = 0; y < h; ++y)
      for (int xx = 0; xx < w; ++xx)
        for (int c = 0; c < 3; ++c)
          bgr.at<cv::Vec3b>(y, xx)[2 - c] =
              cv::saturate_cast<uint8_t>((x[c * plane + y * w + xx] - *lo) / span * 255.0f + 0.5f);
    return bgr;
  }
  int rows = 0, cols = 0;
  std::vector<float> unit = scale_spectrogram(t, scaling_, rows, cols);
  cv::Mat gray(rows, cols, CV_32F, unit.data());
  int w = width_, h = height_;
  if (!w) w = axes_ ? std::clamp(2 * cols, 480, 1200) : cols;
  if (!h) h = axes_ ? std::clamp(2 * rows, 200, 400) : rows;
  cv::Mat u8, area;
  resize_to(gray, w, h).convertTo(u8, CV_8U, 255.0, 0.5);
  if (colormap_ < 0)
    cv::cvtColor(u8, area, cv::COLOR_GRAY2BGR);
  else
    cv::applyColorMap(u8, area, colormap_);
  if (!axes_) {
    if (layout) layout->image = cv::Rect(0, 0, w, h);
    return area;
  }
  return decorate(area, item, rows, cols, layout);
}

cv::Mat WritePngStage::decorate(const cv::Mat& area, const Item& item, int bins, int frames,
                                Layout* layout) const {
  const plot::Font font;
  const cv::Scalar ink(0, 0, 0);
  const int w = area.cols, h = area.rows;
  const int text_h = plot::text_box("0", font).height;
  auto width_of = [&](const std::string& s) { return double(plot::text_box(s, font).width); };
  auto height_of = [&](const std::string&) { return double(text_h); };

  // What the axes measure, from the spectrogram's meta (audio.spectrogram, audio.fbank).
  const Json& m = item.meta;
  const double sr = m.value("sample_rate", static_cast<double>(item.sample_rate));
  const double hop = m.value("hop_length", 0.0);
  const bool timed = sr > 0 && hop > 0;
  // Column j shows frame j, centred at j·hop (torchaudio's center=True): the area spans half a
  // frame either side of the first and last centres.
  const double frame_s = timed ? hop / sr : 1.0;
  const double t0 = -0.5 * frame_s, t1 = (frames - 0.5) * frame_s;
  const std::string freq_scale = m.value("freq_scale", std::string(timed ? "linear" : ""));
  const bool in_hz = sr > 0 && (freq_scale == "linear" || freq_scale == "mel");
  const double f_min = m.value("f_min", 0.0), f_max = m.value("f_max", sr / 2);
  const bool mel = freq_scale == "mel";
  const bool htk = m.value("mel_scale", std::string(htk_mel_ ? "htk" : "slaney")) == "htk";

  // Left margin: frequency labels, their tick marks and the turned axis caption.
  plot::AxisRoom froom;
  froom.length = h;
  froom.min_pos = -text_h / 2.0 - 2;
  froom.max_pos = h + text_h / 2.0 + 2;
  froom.gap = text_h * 0.8;
  std::vector<plot::Tick> fticks;
  if (in_hz && mel)
    fticks = plot::mel_ticks(f_min, f_max, htk, froom, height_of);
  else if (in_hz)
    fticks = plot::linear_ticks(f_min, f_max, froom, height_of,
                                [](double v, double) { return plot::format_hz(v); });
  else
    fticks = plot::linear_ticks(0, bins, froom, height_of, plot::format_number);
  const std::string fcaption = !in_hz ? "bin" : mel ? "Hz (mel scale)" : "Hz";
  const int left = 8 + text_h + 8 + plot::widest_label(fticks, font) + 8;

  // Right margin: the colour bar and its labels.
  const std::string units = m.value("units", std::string());
  const auto [data_lo, data_hi] = finite_range(item.tensor);
  const double bar_lo = scaling_.min_max ? data_lo : scaling_.lo;
  const double bar_hi = scaling_.min_max ? data_hi : scaling_.hi;
  const int bar_w = 14;
  std::vector<plot::Tick> bticks;
  if (colour_bar_) bticks = plot::colour_bar_ticks(bar_lo, bar_hi, h, font);
  const int right = colour_bar_ ? 24 + bar_w + 8 + plot::widest_label(bticks, font) + 10 : 16;

  // Top: the title; bottom: time labels and the axis caption.
  const std::string title_text = [&] {
    std::string t = title_;
    for (size_t at; (at = t.find("{id}")) != std::string::npos;) t.replace(at, 4, item.id);
    return t;
  }();
  const plot::Font title_font{font.face, 0.5, 1};
  const int top = title_text.empty() ? 12 : plot::text_box("Ag", title_font).height + 18;
  const int bottom = 6 + text_h + 6 + text_h + 8;

  cv::Mat canvas(top + h + bottom, left + w + right, CV_8UC3, cv::Scalar(255, 255, 255));
  area.copyTo(canvas(cv::Rect(left, top, w, h)));
  cv::rectangle(canvas, cv::Rect(left - 1, top - 1, w + 2, h + 2), ink);

  // Time ticks: labels may overhang the area by half a label into the margins.
  plot::AxisRoom troom;
  troom.length = w;
  troom.min_pos = -(left - 2);
  troom.max_pos = w + std::min(right - 2, 20);
  troom.gap = 24;  // air between time labels: a row of numbers packed tight reads as one
  const std::vector<plot::Tick> tticks =
      plot::linear_ticks(t0, t1, troom, width_of, plot::format_number, 0.0);
  for (const plot::Tick& tk : tticks) {
    const int x = left + std::min(w - 1, static_cast<int>(std::lround(tk.pos)));
    cv::line(canvas, {x, top + h}, {x, top + h + 4}, ink);
    const cv::Size s = plot::text_box(tk.label, font);
    plot::draw_text(canvas, tk.label, {x - s.width / 2, top + h + 6}, ink, font);
  }
  const std::string tcaption = timed ? "time (s)" : "frame";
  plot::draw_text(
      canvas, tcaption,
      {left + w / 2 - plot::text_box(tcaption, font).width / 2, top + h + 6 + text_h + 6}, ink,
      font);

  for (const plot::Tick& tk : fticks) {
    const int off = std::min(h - 1, static_cast<int>(std::lround(tk.pos)));
    const int y = scaling_.flip ? top + h - 1 - off : top + off;
    cv::line(canvas, {left - 5, y}, {left - 1, y}, ink);
    const cv::Size s = plot::text_box(tk.label, font);
    plot::draw_text(canvas, tk.label, {left - 8 - s.width, y - s.height / 2}, ink, font);
  }
  const cv::Size fc = plot::text_box(fcaption, font);
  plot::draw_text_up(canvas, fcaption, {8, top + h / 2 - fc.width / 2}, ink, font);

  cv::Rect bar;
  if (colour_bar_) {
    bar = cv::Rect(left + w + 24, top, bar_w, h);
    plot::draw_colour_bar(canvas, bar, colormap_, bticks, "", font);
    if (!units.empty()) {
      // The units turned along the bar's right side would collide with its labels: on top.
      const cv::Size s = plot::text_box(units, font);
      plot::draw_text(canvas, units, {bar.x + bar_w / 2 - s.width / 2, top - s.height - 3}, ink,
                      font);
    }
  }
  if (!title_text.empty()) {
    const std::string shown = fit_text(title_text, canvas.cols - 16, title_font);
    const cv::Size s = plot::text_box(shown, title_font);
    const int x = std::clamp(left + w / 2 - s.width / 2, 8, canvas.cols - 8 - s.width);
    plot::draw_text(canvas, shown, {x, 8}, ink, title_font);
  }
  if (layout) {
    layout->image = cv::Rect(left, top, w, h);
    layout->colour_bar = bar;
    layout->time = tticks;
    layout->freq = fticks;
    layout->bar = bticks;
    layout->font = font;
  }
  return canvas;
}

void WritePngStage::write(const Item& item) {
  const cv::Mat img = render(item);
  std::vector<uint8_t> png;
  try {
    png = encode_png(img.data, img.cols, img.rows, img.channels(), img.step);
  } catch (const std::exception& e) {
    throw ItemFailure(e.what());
  }
  const std::string path = png_path_for(dir_, item.id);
  // Ids that differ only in what sanitising removes (`cat`, `./cat`) would share a file.
  if (!written_.insert(path).second)
    throw ItemFailure("write.png: item '" + item.id + "' would overwrite " + path +
                      ", written for an earlier item of this run");
  AtomicFile f(path);
  f.write(png.data(), png.size());
  f.commit();
  outputs_.push_back(path);
}

}  // namespace embedflow
