// The STFT's paired-frame FFTs, the filterbank tile kernels, the vectorised logs and the output
// pool against straightforward float64 references (the torchaudio parity suite covers the
// defaults; these cover the code paths and edge cases). The kernels' tests run at every CPU
// level this machine has (embedflow/cpu.h), each level's build against the same references.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "stages/audio/buffer_pool.h"
#include "stages/audio/fast_log.h"
#include "stages/audio/fftw_plans.h"
#include "stages/audio/kernels.h"
#include "stages/audio/mel.h"
#include "stages/audio/spectrogram.h"
#include "stages/audio/stft.h"
#include "stages/audio/window.h"
#include "tests/audio/audio_test_util.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;

namespace {

// |X|^power of every frame, [frames][bins], by a float64 DFT of the explicitly padded signal.
std::vector<std::vector<double>> reference_stft(const std::vector<float>& x,
                                                const audio::StftOptions& o) {
  std::vector<double> s(x.begin(), x.end());
  s.insert(s.begin(), o.pad, 0.0);
  s.insert(s.end(), o.pad, 0.0);
  if (o.center) {
    const int half = o.n_fft / 2;
    std::vector<double> p(s.size() + 2 * half, 0.0);
    const int64_t n = static_cast<int64_t>(s.size());
    for (int64_t i = 0; i < static_cast<int64_t>(p.size()); ++i) {
      int64_t j = i - half;
      if (j < 0 || j >= n) {
        if (o.pad_mode == audio::PadMode::Constant) continue;
        j = j < 0 ? -j : 2 * (n - 1) - j;
      }
      p[i] = s[j];
    }
    s.swap(p);
  }
  const std::vector<float> w = audio::make_window(o.window, o.win_length, o.periodic);
  std::vector<double> window(o.n_fft, 0.0);
  double energy = 0.0;
  for (int i = 0; i < o.win_length; ++i) {
    window[(o.n_fft - o.win_length) / 2 + i] = w[i];
    energy += static_cast<double>(w[i]) * w[i];
  }
  const double scale = o.normalized ? std::pow(energy, -o.power / 2.0) : 1.0;
  std::vector<double> c(o.n_fft), sn(o.n_fft);
  for (int i = 0; i < o.n_fft; ++i) {
    c[i] = std::cos(2.0 * M_PI * i / o.n_fft);
    sn[i] = std::sin(2.0 * M_PI * i / o.n_fft);
  }
  const int64_t frames = 1 + (static_cast<int64_t>(s.size()) - o.n_fft) / o.hop_length;
  const int bins = o.n_fft / 2 + 1;
  std::vector<std::vector<double>> out(frames, std::vector<double>(bins));
  for (int64_t t = 0; t < frames; ++t) {
    for (int k = 0; k < bins; ++k) {
      double re = 0.0, im = 0.0;
      for (int i = 0; i < o.n_fft; ++i) {
        const double v = window[i] * s[t * o.hop_length + i];
        const int a = static_cast<int>((static_cast<int64_t>(k) * i) % o.n_fft);
        re += v * c[a];
        im -= v * sn[a];
      }
      out[t][k] = std::pow(std::sqrt(re * re + im * im), o.power) * scale;
    }
  }
  return out;
}

// Runs the STFT and returns [frames][bins]; checks the last block's spare columns are zero.
std::vector<std::vector<float>> run_stft(const std::vector<float>& x, const audio::StftOptions& o) {
  audio::Stft stft(o);
  const int64_t frames = stft.frames(static_cast<int64_t>(x.size()));
  std::vector<std::vector<float>> out(frames, std::vector<float>(stft.bins()));
  int64_t seen = 0;
  stft.run(x.data(), static_cast<int64_t>(x.size()), [&](int64_t t0, int count, float* block) {
    REQUIRE(t0 == seen);
    for (int k = 0; k < stft.bins(); ++k) {
      for (int b = 0; b < count; ++b) out[t0 + b][k] = block[k * audio::Stft::kBlockFrames + b];
      for (int b = count; b < audio::Stft::kBlockFrames; ++b)
        REQUIRE(block[k * audio::Stft::kBlockFrames + b] == 0.0f);
    }
    seen += count;
  });
  REQUIRE(seen == frames);
  return out;
}

// Worst error of each frame relative to that frame's largest reference value.
double worst_frame_error(const std::vector<std::vector<float>>& got,
                         const std::vector<std::vector<double>>& want) {
  REQUIRE(got.size() == want.size());
  double worst = 0.0;
  for (size_t t = 0; t < want.size(); ++t) {
    double peak = 0.0, err = 0.0;
    for (size_t k = 0; k < want[t].size(); ++k) {
      peak = std::max(peak, want[t][k]);
      err = std::max(err, std::fabs(got[t][k] - want[t][k]));
    }
    if (peak > 0) worst = std::max(worst, err / peak);
  }
  return worst;
}

// Runs check() once per CPU level this machine has, the audio kernels' build for that level in
// effect.
template <class Check>
void at_every_cpu_level(const Check& check) {
  for (const cpu::Level level : cpu::runnable_levels()) {
    const cpu::ScopedLevelForTesting at(level);
    INFO("CPU level " << cpu::level_name(level) << ", kernels " << audio::kernels::table().build);
    check();
  }
}

std::vector<float> noise(size_t n, float amplitude, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, amplitude);
  std::vector<float> v(n);
  for (float& s : v) s = g(rng);
  return v;
}

}  // namespace

TEST_CASE("audio kernels: each level runs its own build, or the one below") {
  for (const cpu::Level level : cpu::runnable_levels()) {
    CHECK(cpu::parse_level(audio::kernels::table(level).build) ==
          std::min(level, cpu::Level::Avx2));
    const cpu::ScopedLevelForTesting at(level);
    CHECK(&audio::kernels::table() == &audio::kernels::table(level));
  }
}

TEST_CASE("STFT: paired-frame FFTs match a float64 DFT across shapes") {
  struct Case {
    int n_fft, win, hop, pad;
    bool center;
    audio::PadMode mode;
    double power;
    bool normalized;
    std::string window;
    size_t samples;
  };
  const std::vector<Case> cases = {
      {400, 400, 160, 0, true, audio::PadMode::Reflect, 2.0, false, "hann", 4000},
      {401, 401, 100, 0, true, audio::PadMode::Reflect, 2.0, false, "hann", 3001},  // odd n_fft
      {512, 300, 128, 7, false, audio::PadMode::Reflect, 1.0, false, "hamming", 2900},
      {64, 64, 16, 0, true, audio::PadMode::Constant, 1.5, true, "blackman", 777},
      {6, 5, 1, 0, true, audio::PadMode::Reflect, 2.0, false, "hann", 23},
      {3, 3, 2, 0, false, audio::PadMode::Reflect, 2.0, false, "rectangular", 10},
      {2, 2, 1, 0, true, audio::PadMode::Constant, 2.0, false, "rectangular", 5},
  };
  at_every_cpu_level([&] {
    for (const Case& c : cases) {
      audio::StftOptions o;
      o.n_fft = c.n_fft;
      o.win_length = c.win;
      o.hop_length = c.hop;
      o.pad = c.pad;
      o.center = c.center;
      o.pad_mode = c.mode;
      o.power = c.power;
      o.normalized = c.normalized;
      o.window = c.window;
      const std::vector<float> x = noise(c.samples, 0.3f, static_cast<uint32_t>(c.n_fft));
      const double err = worst_frame_error(run_stft(x, o), reference_stft(x, o));
      INFO("n_fft " << c.n_fft << " win " << c.win << " hop " << c.hop << " power " << c.power);
      CHECK(err < 1e-5);
    }
  });
}

TEST_CASE("STFT: a frame much quieter than its pair partner keeps its own accuracy") {
  // Silence, loud noise, noise 100 dB down, loud again: every pair at an edge is unbalanced.
  std::vector<float> x(1600, 0.0f);
  for (const auto& [n, amp] : std::vector<std::pair<size_t, float>>{
           {1290, 1.0f}, {2410, 1e-5f}, {1530, 1.0f}, {900, 0.0f}}) {
    const std::vector<float> part = noise(n, amp, static_cast<uint32_t>(n));
    x.insert(x.end(), part.begin(), part.end());
  }
  audio::StftOptions o;
  o.n_fft = 400;
  o.win_length = 400;
  o.hop_length = 160;
  at_every_cpu_level([&] {
    const auto got = run_stft(x, o);
    const auto want = reference_stft(x, o);
    CHECK(worst_frame_error(got, want) < 1e-5);
    // Frames of pure silence are exactly zero, as a per-frame FFT gives; frame 8 is the last,
    // and its pair partner (frame 9) is loud.
    for (int t = 0; t <= 8; ++t)
      for (float v : got[t]) REQUIRE(v == 0.0f);
  });
}

TEST_CASE("filterbank tiles equal the frame-major projection, per-bin and band forms") {
  std::vector<audio::SparseFilterbank> banks = {
      audio::torchaudio_mel_filterbank(201, 0.0, 8000.0, 128, 16000, false, audio::MelScale::Htk),
      audio::torchaudio_mel_filterbank(513, 0.0, 11025.0, 80, 22050, true, audio::MelScale::Slaney),
      audio::torchaudio_mel_filterbank(257, 50.0, 6000.0, 40, 16000, true, audio::MelScale::Htk),
      audio::kaldi_mel_filterbank(23, 512, 16000.0, 20.0, 0.0),
  };
  // Three filters overlap on some bins: only the band form applies.
  std::vector<double> dense(5 * 12, 0.0);
  for (int m = 0; m < 5; ++m)
    for (int k = 2 * m; k < std::min(12, 2 * m + 5); ++k) dense[m * 12 + k] = 0.25 + 0.1 * k;
  banks.emplace_back(dense, 5, 12);

  for (size_t i = 0; i < banks.size(); ++i)
    CHECK(banks[i].per_bin_form() == (i + 1 < banks.size()));

  at_every_cpu_level([&] {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(0.0f, 2.0f);
    for (const audio::SparseFilterbank& fb : banks) {
      const int bins = fb.bins(), filters = fb.filters();
      std::vector<float> tile(static_cast<size_t>(bins) * 8), frames(static_cast<size_t>(bins) * 8);
      for (int k = 0; k < bins; ++k)
        for (int t = 0; t < 8; ++t) {
          tile[k * 8 + t] = u(rng) * u(rng) * u(rng);
          frames[t * bins + k] = tile[k * 8 + t];
        }
      std::vector<float> want(static_cast<size_t>(filters) * 8), got(want.size());
      fb.apply(frames.data(), 8, bins, want.data());         // [t][m]
      fb.apply_tile8_to(tile.data(), {}, 8, got.data(), 8);  // [m][t]
      INFO(filters << " filters on " << bins << " bins");
      for (int m = 0; m < filters; ++m)
        for (int t = 0; t < 8; ++t)
          REQUIRE(got[m * 8 + t] == Approx(want[t * filters + m]).epsilon(1e-6).margin(1e-12));

      // Converted and stored into rows of a wider output, only `count` columns.
      using Out = audio::SparseFilterbank::TileOutput;
      for (const Out::Kind kind : {Out::Value, Out::Db, Out::Log}) {
        Out how;
        how.kind = kind;
        how.multiplier = 10.0f, how.amin = 1e-10f, how.ref_db = -3.0f, how.offset = 1e-6f;
        const int count = kind == Out::Log ? 5 : 8;
        const int64_t stride = 11;
        std::vector<float> rows(static_cast<size_t>(filters) * stride, -7.0f);
        const float peak = fb.apply_tile8_to(tile.data(), how, count, rows.data(), stride);
        double want_peak = -INFINITY;
        for (int m = 0; m < filters; ++m) {
          for (int t = 0; t < 8; ++t) {
            const double v = want[t * filters + m];
            const double y = kind == Out::Db    ? 10.0 * std::log10(std::max(v, 1e-10)) + 3.0
                             : kind == Out::Log ? std::log(v + 1e-6)
                                                : v;
            want_peak = std::max(want_peak, y);
            if (t < count)
              REQUIRE(rows[m * stride + t] == Approx(y).epsilon(1e-5).margin(1e-4));
            else
              REQUIRE(rows[m * stride + t] == -7.0f);
          }
        }
        if (kind == Out::Db) CHECK(peak == Approx(want_peak).margin(1e-4));
      }
    }
  });
}

TEST_CASE("dB and log kernels: accuracy over the float range, maximum, clamp") {
  std::vector<float> v;
  for (double e = -40; e <= 38; e += 0.0137) v.push_back(static_cast<float>(std::pow(10.0, e)));
  v.push_back(0.0f);
  at_every_cpu_level([&] {
    std::vector<float> db = v, ln = v;
    const float peak =
        audio::db_inplace(db.data(), static_cast<int64_t>(db.size()), 10.0f, 1e-10f, -2.0f);
    audio::log_inplace(ln.data(), static_cast<int64_t>(ln.size()), 1e-30f);
    double worst_db = 0.0, worst_db_audio = 0.0, worst_ln = 0.0, max_db = -INFINITY;
    for (size_t i = 0; i < v.size(); ++i) {
      const double want = 10.0 * std::log10(std::max<double>(v[i], 1e-10f)) + 2.0;
      worst_db = std::max(worst_db, std::fabs(db[i] - want));
      if (std::fabs(want) <= 150.0)
        worst_db_audio = std::max(worst_db_audio, std::fabs(db[i] - want));
      max_db = std::max(max_db, static_cast<double>(db[i]));
      const double want_ln = std::log(static_cast<double>(v[i]) + 1e-30f);
      worst_ln = std::max(worst_ln, std::fabs(ln[i] - want_ln) / std::max(1.0, std::fabs(want_ln)));
    }
    // The parity bar is 1e-3 dB; float32 values of 100-150 dB are 7.6e-6 apart, of 380 dB 3e-5.
    CHECK(worst_db_audio < 2e-5);
    CHECK(worst_db < 1e-4);
    CHECK(worst_ln < 1e-6);
    CHECK(peak == static_cast<float>(max_db));

    std::vector<float> x = {-5.0f, 1.0f, -100.0f, 3.0f, -80.5f, 2.0f, -81.0f, 0.0f, -79.0f};
    audio::clamp_below(x.data(), static_cast<int64_t>(x.size()), -80.0f);
    CHECK(x == std::vector<float>{-5.0f, 1.0f, -80.0f, 3.0f, -80.0f, 2.0f, -80.0f, 0.0f, -79.0f});
    // offset 0 keeps log(0) = -inf.
    std::vector<float> zero = {0.0f, 1.0f};
    audio::log_inplace(zero.data(), 2, 0.0f);
    CHECK(std::isinf(zero[0]));
    CHECK(zero[1] == 0.0f);
  });
}

TEST_CASE("BufferPool recycles storage within its bounds and may die before its buffers") {
  auto pool = std::make_unique<audio::BufferPool>(2, 1 << 20);
  void* first;
  {
    std::shared_ptr<void> a = pool->get(100000);
    first = a.get();
    CHECK(reinterpret_cast<uintptr_t>(first) % 64 == 0);
  }
  CHECK(pool->idle_buffers() == 1);
  {
    std::shared_ptr<void> b = pool->get(99000);  // same pages: reused
    CHECK(b.get() == first);
    std::shared_ptr<void> c = pool->get(30000);  // too small a request for that buffer
    CHECK(c.get() != first);
  }
  CHECK(pool->idle_buffers() == 2);
  {
    std::vector<std::shared_ptr<void>> many;
    for (int i = 0; i < 4; ++i) many.push_back(pool->get(200000));
  }
  CHECK(pool->idle_buffers() == 2);  // at most max_buffers kept
  std::shared_ptr<void> late = pool->get(500000);
  pool.reset();
  late.reset();  // freed, not returned to a dead pool
}

TEST_CASE("audio.spectrogram writes FFTW wisdom when asked and reuses results' storage") {
  TempDir dir("wisdom");
  const std::string wisdom = dir.file("fftw.wisdom");
  auto st = open_stage<SpectrogramStage>(
      spectrogram_schema(),
      {{"n_fft", 320}, {"hop_length", 80}, {"wisdom", wisdom}, {"db", {{"top_db", 80.0}}}});
  CHECK(std::filesystem::file_size(wisdom) > 0);
  const Tensor wave = Tensor::from_vector<float>(noise(16000, 0.1f, 9), {1, 16000});
  const void* storage;
  std::vector<float> first;
  {
    const Item a = run_item(*st, audio_item(wave, 16000));
    storage = a.tensor.raw();
    first.assign(a.tensor.data<float>(), a.tensor.data<float>() + a.tensor.numel());
  }
  const Item b = run_item(*st, audio_item(wave, 16000));
  CHECK(b.tensor.raw() == storage);  // the first result's buffer, recycled
  CHECK(std::equal(first.begin(), first.end(), b.tensor.data<float>()));
}

TEST_CASE("audio.spectrogram: log with offset 0 (libm path) agrees with dB and keeps log(0)") {
  std::vector<float> x(3200, 0.0f);
  const std::vector<float> loud = noise(8000, 0.2f, 11);
  x.insert(x.end(), loud.begin(), loud.end());
  const Tensor wave = Tensor::from_vector<float>(x, {1, static_cast<int64_t>(x.size())});
  const Json mel = {{"n_mels", 40}};
  auto ln = open_stage<SpectrogramStage>(spectrogram_schema(),
                                         {{"mel", mel}, {"log", {{"offset", 0.0}}}});
  auto db =
      open_stage<SpectrogramStage>(spectrogram_schema(), {{"mel", mel}, {"db", {{"amin", 1e-30}}}});
  const Item a = run_item(*ln, audio_item(wave, 16000));
  const Item b = run_item(*db, audio_item(wave, 16000));
  REQUIRE(a.tensor.shape() == b.tensor.shape());
  const int64_t frames = a.tensor.dim(1);
  int64_t infinite = 0;
  for (int64_t i = 0; i < a.tensor.numel(); ++i) {
    const float l = a.tensor.data<float>()[i], d = b.tensor.data<float>()[i];
    if (std::isinf(l)) {
      ++infinite;
      REQUIRE(l < 0);
      REQUIRE(d == Approx(-300.0f));  // the amin floor
    } else {
      REQUIRE(l * 10.0 / std::log(10.0) == Approx(d).margin(1e-3));
    }
  }
  CHECK(infinite >= 40 * 8);  // the first frames see only silence
  CHECK(frames == 1 + static_cast<int64_t>(x.size()) / 200);
}
