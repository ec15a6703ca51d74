// The pictures people look at: write.png's plotted spectrograms (ticks, sizes, colour bar),
// write.heatmap's similarity matrices, and the labelled printed matrix. Expectations come from
// outside the code under test: label boxes measured here with cv::getTextSize, mel positions from
// the HTK formula written here, colormap ends from matplotlib's published tables, a hand-written
// string for the printed matrix.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "embedflow/config.h"
#include "models/similarity.h"
#include "stages/io/write_heatmap.h"
#include "stages/io/write_png.h"
#include "tests/support/test_support.h"

using namespace embedflow;
namespace fs = std::filesystem;

namespace {

// A log-mel spectrogram item as audio.spectrogram makes it: 16 kHz, hop 160 (100 frames/s).
Item mel_item(double seconds, int bins = 8, float value = -40.0f) {
  Item it;
  it.id = "clip.wav";
  it.kind = Kind::Spectrogram;
  const int64_t frames = std::max<int64_t>(1, std::llround(seconds * 100));
  it.tensor = Tensor::from_vector<float>(
      std::vector<float>(static_cast<size_t>(bins * frames), value), {bins, frames});
  it.sample_rate = 16000;
  it.meta = {{"sample_rate", 16000}, {"hop_length", 160}, {"freq_scale", "mel"},
             {"f_min", 0.0},         {"f_max", 8000.0},   {"units", "dB"}};
  return it;
}

int text_width(const std::string& s) {
  int baseline = 0;
  return cv::getTextSize(s, cv::FONT_HERSHEY_SIMPLEX, 0.4, 1, &baseline).width;
}
int text_height() {
  int baseline = 0;
  const cv::Size s = cv::getTextSize("0", cv::FONT_HERSHEY_SIMPLEX, 0.4, 1, &baseline);
  return s.height + baseline;
}

// A step is nice when it is 1, 2 or 5 times a power of ten.
bool nice_step(double step) {
  const double mag = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double m = step / mag;
  return std::fabs(m - 1) < 1e-6 || std::fabs(m - 2) < 1e-6 || std::fabs(m - 5) < 1e-6;
}

// One significant digit (100, 2000, 7000) or zero.
bool one_digit(double v) {
  if (v == 0) return true;
  const double mag = std::pow(10.0, std::floor(std::log10(v) + 1e-9));
  const double m = v / mag;
  return std::fabs(m - std::round(m)) < 1e-6;
}

double htk_mel(double hz) {
  return 2595.0 * std::log10(1.0 + hz / 700.0);
}

bool dark(const cv::Vec3b& px) {
  return px[0] < 128 && px[1] < 128 && px[2] < 128;
}

}  // namespace

TEST_CASE("write.png time labels never collide from 0.1 s to 10 min and 200 to 2000 px") {
  test::TempDir dir("pictures");
  for (double seconds : {0.1, 0.37, 1.0, 3.0, 12.5, 61.0, 600.0}) {
    const Item item = mel_item(seconds);
    for (int width : {200, 333, 640, 1000, 1500, 2000}) {
      INFO(seconds << " s at " << width << " px");
      auto png = test::open_stage<WritePngStage>(
          write_png_schema(), {{"dir", dir.path()}, {"axes", true}, {"width", width}});
      WritePngStage::Layout layout;
      const cv::Mat img = png->render(item, &layout);
      const auto& ticks = layout.time;
      REQUIRE(ticks.size() >= 2);  // an axis with one label says nothing about scale
      REQUIRE(layout.image.width == width);
      const double step = ticks[1].value - ticks[0].value;
      CHECK(nice_step(step));
      double prev_right = -1e9;
      for (size_t i = 0; i < ticks.size(); ++i) {
        const auto& t = ticks[i];
        // Inside the clip, increasing by the step, labelled with the value.
        CHECK(t.value >= -1e-9);
        CHECK(t.value <= (item.tensor.dim(1) - 0.5) * 0.01 + 1e-9);
        if (i > 0) CHECK(t.value - ticks[i - 1].value == Approx(step));
        CHECK(std::stod(t.label) == Approx(t.value).margin(1e-9));
        // The label box, measured here, centred on the tick: apart from the previous one and
        // inside the picture.
        const int x = layout.image.x + static_cast<int>(std::lround(t.pos));
        const int w = text_width(t.label);
        const double left = x - w / 2.0, right = x + w / 2.0;
        CHECK(left >= 0);
        CHECK(right <= img.cols);
        CHECK(left > prev_right + 1);
        prev_right = right;
        // The tick mark is drawn where the layout says (just below the image area).
        const int tx = std::min(x, layout.image.x + layout.image.width - 1);
        CHECK(dark(img.at<cv::Vec3b>(layout.image.y + layout.image.height + 2, tx)));
        // Column j shows the frame centred at j·10 ms: time t is (t + 5 ms) / (frames · 10 ms)
        // of the way along.
        CHECK(t.pos ==
              Approx((t.value + 0.005) / (item.tensor.dim(1) * 0.01) * width).margin(1e-6));
      }
    }
  }
}

TEST_CASE("write.png mel frequency ticks sit where the mel scale puts round frequencies") {
  test::TempDir dir("pictures");
  for (int height : {100, 128, 200, 400, 900}) {
    INFO(height << " px high");
    auto png = test::open_stage<WritePngStage>(
        write_png_schema(), {{"dir", dir.path()}, {"axes", true}, {"height", height}});
    WritePngStage::Layout layout;
    const cv::Mat img = png->render(mel_item(3.0, 64), &layout);
    REQUIRE(layout.image.height == height);
    const auto& ticks = layout.freq;
    REQUIRE(ticks.size() >= 3);
    const double th = text_height();
    for (size_t i = 0; i < ticks.size(); ++i) {
      const auto& t = ticks[i];
      CHECK(one_digit(t.value));
      CHECK(t.value >= 0);
      CHECK(t.value <= 8000);
      if (i > 0) {
        CHECK(t.value > ticks[i - 1].value);
        CHECK(t.pos - ticks[i - 1].pos >= th + 1);  // vertical label boxes apart
      }
      CHECK(t.pos == Approx(htk_mel(t.value) / htk_mel(8000) * height).margin(1e-6));
      // The label, right-aligned before the tick, fits left of the image area.
      CHECK(text_width(t.label) + 6 < layout.image.x);
    }
    (void)img;
  }
  // A Slaney-scale spectrogram (its meta says so): linear below 1 kHz, logarithmic above.
  {
    Item slaney = mel_item(3.0, 64);
    slaney.meta["mel_scale"] = "slaney";
    auto png = test::open_stage<WritePngStage>(
        write_png_schema(), {{"dir", dir.path()}, {"axes", true}, {"height", 300}});
    WritePngStage::Layout layout;
    png->render(slaney, &layout);
    auto mel = [](double f) {
      return f < 1000 ? f * 3 / 200 : 15 + std::log(f / 1000) * 27 / std::log(6.4);
    };
    REQUIRE(layout.freq.size() >= 3);
    for (const auto& t : layout.freq)
      CHECK(t.pos == Approx(mel(t.value) / mel(8000) * 300).margin(1e-6));
  }
  // A linear spectrogram: multiples of a nice step in Hz, evenly spaced.
  Item lin = mel_item(3.0, 201);
  lin.meta["freq_scale"] = "linear";
  auto png = test::open_stage<WritePngStage>(
      write_png_schema(), {{"dir", dir.path()}, {"axes", true}, {"height", 300}});
  WritePngStage::Layout layout;
  png->render(lin, &layout);
  REQUIRE(layout.freq.size() >= 3);
  const double step = layout.freq[1].value - layout.freq[0].value;
  CHECK(nice_step(step));
  for (const auto& t : layout.freq) {
    CHECK(std::fmod(t.value, step) == Approx(0).margin(1e-6));
    CHECK(t.pos == Approx(t.value / 8000 * 300).margin(1e-6));
  }
}

TEST_CASE("write.png draws the spectrogram at the requested width and height") {
  test::TempDir dir("pictures");
  // Constant 0.3 of the range in gray: pixel 77 everywhere in the image area.
  Item item = mel_item(2.0, 16, 0.3f);
  const Json base = {{"dir", dir.path()},   {"colormap", "gray"}, {"scale", "range"},
                     {"range", {0.0, 1.0}}, {"width", 321},       {"height", 123}};
  for (bool axes : {false, true}) {
    Json params = base;
    params["axes"] = axes;
    auto png = test::open_stage<WritePngStage>(write_png_schema(), params);
    const cv::Mat img = png->render(item);
    auto longest_run = [&](auto pixel, int n) {
      int best = 0, run = 0;
      for (int i = 0; i < n; ++i) {
        run = pixel(i) == cv::Vec3b(77, 77, 77) ? run + 1 : 0;
        best = std::max(best, run);
      }
      return best;
    };
    int widest = 0, tallest = 0;
    for (int y = 0; y < img.rows; ++y)
      widest =
          std::max(widest, longest_run([&](int x) { return img.at<cv::Vec3b>(y, x); }, img.cols));
    for (int x = 0; x < img.cols; ++x)
      tallest =
          std::max(tallest, longest_run([&](int y) { return img.at<cv::Vec3b>(y, x); }, img.rows));
    CHECK(widest == 321);
    CHECK(tallest == 123);
    if (!axes) CHECK(img.size() == cv::Size(321, 123));
  }
}

TEST_CASE("write.png colour bar runs from the colormap's low end to its high end") {
  test::TempDir dir("pictures");
  // matplotlib's tables (RGB): magma from (0, 0, 4) to (252, 253, 191), viridis from (68, 1, 84)
  // to (253, 231, 37).
  struct Ends {
    const char* name;
    cv::Vec3b low, high;  // BGR
  };
  for (const Ends& e :
       {Ends{"magma", {4, 0, 0}, {191, 253, 252}}, Ends{"viridis", {84, 1, 68}, {37, 231, 253}}}) {
    INFO(e.name);
    auto png = test::open_stage<WritePngStage>(write_png_schema(), {{"dir", dir.path()},
                                                                    {"axes", true},
                                                                    {"colormap", e.name},
                                                                    {"scale", "range"},
                                                                    {"range", {-80.0, 0.0}}});
    WritePngStage::Layout layout;
    const cv::Mat img = png->render(mel_item(3.0), &layout);
    const cv::Rect bar = layout.colour_bar;
    REQUIRE(bar.height == layout.image.height);
    const cv::Vec3b top = img.at<cv::Vec3b>(bar.y, bar.x + bar.width / 2);
    const cv::Vec3b bottom = img.at<cv::Vec3b>(bar.y + bar.height - 1, bar.x + bar.width / 2);
    for (int c = 0; c < 3; ++c) {
      CHECK(std::abs(top[c] - e.high[c]) <= 4);
      CHECK(std::abs(bottom[c] - e.low[c]) <= 4);
    }
    // dB ticks: nice, increasing, within the range, the ends at the bar's ends.
    const auto& ticks = layout.bar;
    REQUIRE(ticks.size() >= 3);
    CHECK(ticks.front().value == Approx(-80));
    CHECK(ticks.back().value == Approx(0));
    CHECK(ticks.back().pos == Approx(bar.height - 1));
    CHECK(nice_step(ticks[1].value - ticks[0].value));
    for (size_t i = 1; i < ticks.size(); ++i) CHECK(ticks[i].value > ticks[i - 1].value);
  }
  // min-max: the item's own range on the bar.
  Item item = mel_item(1.0);
  float* x = item.tensor.data<float>();
  x[0] = -63.0f;
  x[5] = -12.0f;
  auto png =
      test::open_stage<WritePngStage>(write_png_schema(), {{"dir", dir.path()}, {"axes", true}});
  WritePngStage::Layout layout;
  png->render(item, &layout);
  REQUIRE(!layout.bar.empty());
  CHECK(layout.bar.front().value >= -63.0);
  CHECK(layout.bar.back().value <= -12.0);
  CHECK(layout.bar.front().value < -50.0);
}

namespace {

std::vector<std::string> ids(int n, const std::string& stem) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(stem + std::to_string(i) + ".wav");
  return out;
}

// The index of the colormap entry nearest to `px`.
int nearest_entry(const cv::Mat& lut, const cv::Vec3b& px) {
  int best = 0, best_d = 1 << 30;
  for (int i = 0; i < 256; ++i) {
    const cv::Vec3b c = lut.at<cv::Vec3b>(0, i);
    const int d = (c[0] - px[0]) * (c[0] - px[0]) + (c[1] - px[1]) * (c[1] - px[1]) +
                  (c[2] - px[2]) * (c[2] - px[2]);
    if (d < best_d) best = i, best_d = d;
  }
  return best;
}

}  // namespace

TEST_CASE("write.heatmap cell colours map back to their values through the colormap") {
  const int rows = 6, cols = 5;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(rows * cols);
  for (float& x : v) x = u(rng);
  cv::Mat ramp(1, 256, CV_8U), lut;
  for (int i = 0; i < 256; ++i) ramp.at<uint8_t>(0, i) = static_cast<uint8_t>(i);
  cv::applyColorMap(ramp, lut, cv::COLORMAP_VIRIDIS);

  HeatmapOptions o;
  o.colormap = cv::COLORMAP_VIRIDIS;
  o.min_max = false;
  o.lo = -1, o.hi = 1;
  o.values = HeatmapOptions::Values::Never;
  HeatmapLayout layout;
  const cv::Mat img = render_heatmap(o, v, rows, cols, ids(rows, "q"), ids(cols, "c"), &layout);
  REQUIRE(layout.cell > 4);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const cv::Vec3b px = img.at<cv::Vec3b>(layout.matrix.y + r * layout.cell + layout.cell / 2,
                                             layout.matrix.x + c * layout.cell + layout.cell / 2);
      const double back = -1 + 2.0 * nearest_entry(lut, px) / 255;
      CHECK(back == Approx(v[r * cols + c]).margin(2.0 / 255 + 1e-6));
    }
  // min-max: the smallest value gets the low end, the largest the high end.
  o.min_max = true;
  const cv::Mat mm = render_heatmap(o, v, rows, cols, ids(rows, "q"), ids(cols, "c"), &layout);
  const auto lo_at = std::min_element(v.begin(), v.end()) - v.begin();
  const auto hi_at = std::max_element(v.begin(), v.end()) - v.begin();
  auto centre = [&](long i) {
    return mm.at<cv::Vec3b>(layout.matrix.y + int(i / cols) * layout.cell + layout.cell / 2,
                            layout.matrix.x + int(i % cols) * layout.cell + layout.cell / 2);
  };
  CHECK(centre(lo_at) == lut.at<cv::Vec3b>(0, 0));
  CHECK(centre(hi_at) == lut.at<cv::Vec3b>(0, 255));
  // The colour bar: high end at the top, low end at the bottom.
  const cv::Rect bar = layout.colour_bar;
  CHECK(mm.at<cv::Vec3b>(bar.y, bar.x + 2) == lut.at<cv::Vec3b>(0, 255));
  CHECK(mm.at<cv::Vec3b>(bar.y + bar.height - 1, bar.x + 2) == lut.at<cv::Vec3b>(0, 0));
}

TEST_CASE("write.heatmap labels never overlap from 2x2 to 300x300") {
  for (int n : {2, 3, 19, 60, 200, 300}) {
    INFO(n << " x " << n);
    std::vector<float> v(static_cast<size_t>(n) * n, 0.5f);
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i)
      names.push_back("examples/media/audio/a_rather_long_recording_name_" + std::to_string(i) +
                      ".wav");
    HeatmapOptions o;
    HeatmapLayout layout;
    const cv::Mat img = render_heatmap(o, v, n, n, names, names, &layout);
    // Sensible sizes: a few hundred to about 1500 pixels.
    CHECK(img.cols >= 250);
    CHECK(img.cols <= 1600);
    CHECK(img.rows <= 1600);
    // Every row labelled while cells are taller than a line of text, enough of them otherwise.
    if (layout.cell >= text_height() + 2) CHECK(layout.row_labels.size() == size_t(n));
    CHECK(layout.row_labels.size() >= std::min<size_t>(n, 20));
    CHECK(layout.values_written == (n <= 19));
    const int th = text_height();
    int prev_bottom = -(1 << 30);
    for (const auto& l : layout.row_labels) {
      CHECK(static_cast<int>(l.text.size()) <= o.label_chars);
      CHECK(text_width(l.text) == l.box.width);
      // Centred on its row, apart from the previous label, inside the picture.
      const int centre = layout.matrix.y + l.index * layout.cell + layout.cell / 2;
      CHECK(std::abs(l.box.y + th / 2 - centre) <= 1);
      CHECK(l.box.y > prev_bottom);
      CHECK(l.box.x >= 0);
      CHECK(l.box.x + l.box.width <= layout.matrix.x);
      prev_bottom = l.box.y + th;
    }
    int prev_right = -(1 << 30);
    for (const auto& l : layout.column_labels) {
      // Long ids stand upright (the box turned), and lie flat only when they fit their column.
      CHECK(l.upright);
      CHECK(l.box.height == text_width(l.text));
      CHECK(l.box.width == th);
      CHECK(l.box.x > prev_right);
      CHECK(l.box.y + l.box.height <= img.rows);
      CHECK(l.box.y >= layout.matrix.y + layout.matrix.height);
      prev_right = l.box.x + th;
    }
    // Numbered columns (a corpus): flat, centred under their columns, apart.
    std::vector<std::string> numbers;
    for (int i = 0; i < n; ++i) numbers.push_back(std::to_string(i));
    HeatmapLayout numbered;
    render_heatmap(o, v, n, n, names, numbers, &numbered);
    prev_right = -(1 << 30);
    for (const auto& l : numbered.column_labels) {
      const int w = text_width(l.text);
      const int centre = numbered.matrix.x + l.index * numbered.cell + numbered.cell / 2;
      CHECK(l.box.x > prev_right);
      if (!l.upright) {
        CHECK(l.box.width == w);
        CHECK(std::abs(l.box.x + w / 2 - centre) <= 1);
        prev_right = l.box.x + w;
      } else {
        prev_right = l.box.x + th;
      }
    }
    if (n <= 19) CHECK(!numbered.column_labels.front().upright);
    // Cut in the middle: the start and the ".wav" end both stay.
    CHECK(layout.row_labels.front().text.rfind("examp", 0) == 0);
    CHECK(layout.row_labels.front().text.find(".wav") != std::string::npos);
  }
}

TEST_CASE("write.heatmap writes one PNG of score.cosine rows in query order") {
  test::TempDir dir("heatmap");
  const std::string path = dir.file("sim/heatmap.png");
  auto st = test::open_stage<WriteHeatmap>(write_heatmap_schema(), {{"path", path}});
  // Rows arrive out of order; meta.query_index puts them back.
  const float m[3][3] = {{1, 0.2f, -0.4f}, {0.2f, 1, 0.7f}, {-0.4f, 0.7f, 1}};
  for (int r : {2, 0, 1}) {
    Item it;
    it.id = "item" + std::to_string(r);
    it.kind = Kind::Embedding;
    it.tensor = Tensor::from_vector<float>({m[r][0], m[r][1], m[r][2]}, {3});
    it.meta = {{"query_index", r}};
    st->write(it);
  }
  st->finish(true);
  REQUIRE(st->outputs() == std::vector<std::string>{path});
  const cv::Mat img = cv::imread(path);
  REQUIRE(!img.empty());
  // The same picture as rendering the ordered matrix.
  HeatmapOptions o;
  o.colormap = cv::COLORMAP_VIRIDIS;
  o.title = "cosine similarity";
  const std::vector<std::string> names = {"item0", "item1", "item2"};
  const cv::Mat expected =
      render_heatmap(o, {1, 0.2f, -0.4f, 0.2f, 1, 0.7f, -0.4f, 0.7f, 1}, 3, 3, names, names);
  REQUIRE(img.size() == expected.size());
  CHECK(cv::norm(img, expected, cv::NORM_INF) == 0);
  // A row of another width is refused with the widths named.
  auto other =
      test::open_stage<WriteHeatmap>(write_heatmap_schema(), {{"path", dir.file("x.png")}});
  Item a;
  a.id = "a";
  a.kind = Kind::Embedding;
  a.tensor = Tensor::from_vector<float>({1, 2}, {2});
  other->write(a);
  a.tensor = Tensor::from_vector<float>({1, 2, 3}, {3});
  CHECK_THROWS_WITH(other->write(a), Catch::Contains("3 values") && Catch::Contains("had 2"));
  // Nothing written: no file.
  auto empty =
      test::open_stage<WriteHeatmap>(write_heatmap_schema(), {{"path", dir.file("none.png")}});
  empty->finish(true);
  CHECK(empty->outputs().empty());
  CHECK(!fs::exists(dir.file("none.png")));
}

TEST_CASE("the labelled printed matrix reads like PyTorch with row ids and column numbers") {
  const Tensor m = Tensor::from_vector<float>({1.0f, -0.5f, -0.5f, 1.0f}, {2, 2});
  CHECK(format_like_torch_labelled(m, {"a.wav", "b.wav"}) ==
        "               0        1\n"
        "tensor([[ 1.0000, -0.5000],   0  a.wav\n"
        "        [-0.5000,  1.0000]])  1  b.wav");
  // Queries against another corpus: its labels as a legend.
  const Tensor q = Tensor::from_vector<float>({0.25f, 0.75f}, {1, 2});
  CHECK(format_like_torch_labelled(q, {"photo.jpg"}, {"a cat", "a dog"}) ==
        "              0       1\n"
        "tensor([[0.2500, 0.7500]])  0  photo.jpg\n"
        "columns: 0  a cat\n"
        "         1  a dog");
  // The plain form stays as it was.
  CHECK(format_like_torch(m) == "tensor([[1.0000, -0.5000],\n        [-0.5000, 1.0000]])");
}
