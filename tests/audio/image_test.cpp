// spectrogram.image and write.png on small hand-made spectrograms, plus the spectrogram stage's
// multi-channel layout and thread safety.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <thread>

#include <opencv2/imgcodecs.hpp>

#include "embedflow/errors.h"
#include "stages/audio/spectrogram.h"
#include "stages/audio/spectrogram_image.h"
#include "stages/io/write_png.h"
#include "tests/audio/audio_test_util.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

Item spectrogram_item(const std::vector<float>& v, int64_t f, int64_t t,
                      const std::string& id = "s") {
  Item it;
  it.id = id;
  it.kind = Kind::Spectrogram;
  it.tensor = Tensor::from_vector<float>(v, {f, t});
  it.sample_rate = 16000;
  return it;
}

}  // namespace

TEST_CASE("spectrogram.image: min-max, flip, replicate, no resize") {
  auto st = open_stage<SpectrogramImageStage>(spectrogram_image_schema(),
                                              {{"height", 0}, {"width", 0}, {"normalize", "none"}});
  // Rows are frequency bins, low first: 2 bins × 3 frames, values 0..10.
  const Item out = run_item(*st, spectrogram_item({0, 5, 10, 2, 4, 6}, 2, 3));
  REQUIRE(out.kind == Kind::ImageTensor);
  REQUIRE(out.tensor.shape() == std::vector<int64_t>{3, 2, 3});
  const float* p = out.tensor.data<float>();
  // flip: image row 0 is the highest bin (values 2, 4, 6) → 0.2, 0.4, 0.6.
  const std::vector<float> want{0.2f, 0.4f, 0.6f, 0.0f, 0.5f, 1.0f};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 6; ++i) CHECK(p[c * 6 + i] == Approx(want[i]).margin(1e-6));
}

TEST_CASE("spectrogram.image: fixed dB range, imagenet normalisation, resize") {
  auto st = open_stage<SpectrogramImageStage>(
      spectrogram_image_schema(),
      {{"scale", "range"}, {"range", {-80.0, 0.0}}, {"flip", false}, {"height", 0}, {"width", 0}});
  const Item out = run_item(*st, spectrogram_item({-100, -40, 10}, 1, 3));
  const float* p = out.tensor.data<float>();
  // Clipped to [0, 1] → 0, 0.5, 1; then torchvision's ImageNet mean/std per channel.
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  const float unit[3] = {0.0f, 0.5f, 1.0f};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 3; ++i)
      CHECK(p[c * 3 + i] == Approx((unit[i] - mean[c]) / sd[c]).margin(1e-5));

  auto sized = open_stage<SpectrogramImageStage>(spectrogram_image_schema(),
                                                 {{"normalize", "none"}});  // 224 × 224
  std::vector<float> ramp(64 * 50);
  for (int f = 0; f < 64; ++f)
    for (int t = 0; t < 50; ++t) ramp[f * 50 + t] = static_cast<float>(f);
  const Item big = run_item(*sized, spectrogram_item(ramp, 64, 50));
  REQUIRE(big.tensor.shape() == std::vector<int64_t>{3, 224, 224});
  const float* b = big.tensor.data<float>();
  // Low frequencies at the bottom: the top row is the brightest, values fall monotonically.
  CHECK(b[0] == Approx(1.0f).margin(1e-6));
  CHECK(b[223 * 224] == Approx(0.0f).margin(1e-6));
  for (int y = 1; y < 224; ++y) CHECK(b[y * 224 + 7] <= b[(y - 1) * 224 + 7] + 1e-6f);
}

TEST_CASE("spectrogram.image: colormap gives viridis colours as RGB") {
  auto st = open_stage<SpectrogramImageStage>(spectrogram_image_schema(), {{"channels", "colormap"},
                                                                           {"height", 0},
                                                                           {"width", 0},
                                                                           {"normalize", "none"},
                                                                           {"flip", false}});
  const Item out = run_item(*st, spectrogram_item({0, 1}, 1, 2));
  const float* p = out.tensor.data<float>();
  // matplotlib's viridis endpoints: #440154 and #fde725.
  const float lo[3] = {68, 1, 84}, hi[3] = {253, 231, 37};
  for (int c = 0; c < 3; ++c) {
    CHECK(p[c * 2 + 0] * 255 == Approx(lo[c]).margin(2));
    CHECK(p[c * 2 + 1] * 255 == Approx(hi[c]).margin(2));
  }
}

TEST_CASE("spectrogram.image rejects multi-channel spectrograms with a hint") {
  auto st = open_stage<SpectrogramImageStage>(spectrogram_image_schema(), Json::object());
  Item in;
  in.id = "stereo";
  in.kind = Kind::Spectrogram;
  in.tensor = Tensor(DType::F32, {2, 4, 5});
  try {
    run_item(*st, in);
    FAIL("accepted [2, 4, 5]");
  } catch (const ItemFailure& e) {
    CHECK(std::string(e.what()).find("mono: true") != std::string::npos);
  }
}

TEST_CASE("write.png writes the bare strip, axes on request, and images as they are") {
  TempDir dir("png");
  auto strip =
      open_stage<WritePngStage>(write_png_schema(), {{"dir", dir.path()}, {"colormap", "gray"}});
  strip->write(spectrogram_item({0, 5, 10, 2, 4, 6}, 2, 3, "sub/clip.wav"));
  const std::string path = dir.file("sub/clip.wav.png");
  REQUIRE(fs::exists(path));
  const cv::Mat img = cv::imread(path, cv::IMREAD_GRAYSCALE);
  REQUIRE(img.rows == 2);
  REQUIRE(img.cols == 3);
  CHECK(int(img.at<uint8_t>(1, 2)) == 255);  // the maximum, lowest bin, shown at the bottom
  CHECK(int(img.at<uint8_t>(1, 0)) == 0);
  CHECK(int(img.at<uint8_t>(0, 1)) == 102);  // 0.4 * 255
  CHECK(strip->outputs() == std::vector<std::string>{path});

  auto axes = open_stage<WritePngStage>(write_png_schema(), {{"dir", dir.path()}, {"axes", true}});
  Item s = spectrogram_item(std::vector<float>(64 * 200, 1.0f), 64, 200, "axes");
  s.meta = {{"sample_rate", 16000}, {"hop_length", 160}, {"freq_scale", "mel"}, {"f_max", 8000}};
  axes->write(s);
  const cv::Mat framed = cv::imread(dir.file("axes.png"));
  CHECK(framed.rows > 64);
  CHECK(framed.cols > 200);

  // An RGB image round-trips exactly.
  Item rgb;
  rgb.id = "rgb";
  rgb.kind = Kind::Image;
  rgb.tensor = Tensor::from_vector<uint8_t>({255, 0, 0, 0, 0, 255}, {1, 2, 3});
  strip->write(rgb);
  const cv::Mat back = cv::imread(dir.file("rgb.png"));  // BGR
  CHECK(back.at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 255));
  CHECK(back.at<cv::Vec3b>(0, 1) == cv::Vec3b(255, 0, 0));
  // Ids cannot climb out of the folder.
  CHECK(png_path_for("/out", "../../etc/x") == "/out/__/__/etc/x.png");
  CHECK(png_path_for("/out", "/etc/x") == "/out/etc/x.png");
  // Two ids that name one file: the second fails instead of silently replacing the first.
  Item twin = rgb;
  twin.id = "./rgb";
  twin.tensor = Tensor::from_vector<uint8_t>({0, 255, 0, 0, 255, 0}, {1, 2, 3});
  CHECK_THROWS_WITH(strip->write(twin),
                    Catch::Contains("would overwrite") && Catch::Contains("rgb.png"));
  CHECK(cv::imread(dir.file("rgb.png")).at<cv::Vec3b>(0, 0) == cv::Vec3b(0, 0, 255));
}

TEST_CASE("audio.spectrogram: per-channel [C, F, T] and concurrent calls are deterministic") {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 0.1f);
  Tensor stereo(DType::F32, {2, 8000});
  for (int64_t i = 0; i < stereo.numel(); ++i) stereo.data<float>()[i] = g(rng);
  auto st = open_stage<SpectrogramStage>(
      spectrogram_schema(),
      {{"n_fft", 512}, {"hop_length", 128}, {"mel", {{"n_mels", 40}}}, {"db", {{"top_db", 80.0}}}});
  const Item both = run_item(*st, audio_item(stereo, 16000));
  REQUIRE(both.tensor.shape() == std::vector<int64_t>{2, 40, 1 + 8000 / 128});
  CHECK(both.meta["n_fft"] == 512);
  CHECK(both.meta["hop_length"] == 128);
  CHECK(both.meta["sample_rate"] == 16000);
  CHECK(both.sample_rate == 16000);

  // Channel 1 alone: same values except top_db, which clamps against the whole item's max.
  auto plain = open_stage<SpectrogramStage>(
      spectrogram_schema(), {{"n_fft", 512}, {"hop_length", 128}, {"mel", {{"n_mels", 40}}}});
  Tensor right(DType::F32, {1, 8000});
  std::copy(stereo.data<float>() + 8000, stereo.data<float>() + 16000, right.data<float>());
  const Item r = run_item(*plain, audio_item(right, 16000));
  const Item lr = run_item(*plain, audio_item(stereo, 16000));
  const size_t plane = 40 * (1 + 8000 / 128);
  for (size_t i = 0; i < plane; ++i)
    REQUIRE(lr.tensor.data<float>()[plane + i] == r.tensor.data<float>()[i]);

  // 2 threads × 8 calls on one stage instance give the sequential results bit for bit.
  std::vector<Item> seq(16), par(16);
  for (int i = 0; i < 16; ++i) seq[i] = run_item(*st, audio_item(stereo, 16000));
  auto worker = [&](int first) {
    for (int i = first; i < 16; i += 2) par[i] = run_item(*st, audio_item(stereo, 16000));
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  for (int i = 0; i < 16; ++i)
    REQUIRE(std::equal(seq[i].tensor.data<float>(),
                       seq[i].tensor.data<float>() + seq[i].tensor.numel(),
                       par[i].tensor.data<float>()));
}

TEST_CASE("audio.spectrogram: short signals and missing sample rates fail per item") {
  auto st = open_stage<SpectrogramStage>(spectrogram_schema(), {{"mel", Json::object()}});
  CHECK_THROWS_WITH(run_item(*st, audio_item(Tensor(DType::F32, {1, 100}), 16000)),
                    Catch::Contains("too short for reflect padding"));
  CHECK_THROWS_WITH(run_item(*st, audio_item(Tensor(DType::F32, {1, 16000}), 0)),
                    Catch::Contains("no sample rate"));
  CHECK_THROWS_WITH(run_item(*st, audio_item(Tensor(DType::F32, {16000}), 16000)),
                    Catch::Contains("[channels, samples]"));
  // A configuration mistake is refused when the stage is built, before any item.
  const Params both =
      resolve_params(spectrogram_schema(), "s", {{"db", Json::object()}, {"log", Json::object()}});
  CHECK_THROWS_AS(SpectrogramStage(both), ConfigError);
}
