// audio.load: decoding against independent readers, channel handling, resampling, and every
// class of bad input becoming an error for that file only.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>

#include <fcntl.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embedflow/errors.h"
#include "embedflow/npy.h"
#include "stages/audio/load.h"
#include "tests/audio/audio_test_util.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

const std::string kFrontCenter = source_path("examples/media/audio/Front_Center.wav");
const std::string kBell = source_path("examples/media/audio/bell.oga");

// Writes `frames` frames of a sine (one per channel, channel c at freq*(c+1)) with libsndfile.
void write_sine(const std::string& path, int format, int rate, int channels, int64_t frames,
                double freq = 440.0, double amp = 0.5) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  REQUIRE(f != nullptr);
  std::vector<float> buf(static_cast<size_t>(frames) * channels);
  for (int64_t i = 0; i < frames; ++i)
    for (int c = 0; c < channels; ++c)
      buf[i * channels + c] =
          static_cast<float>(amp * std::sin(2 * M_PI * freq * (c + 1) * i / rate));
  REQUIRE(sf_writef_float(f, buf.data(), frames) == frames);
  sf_close(f);
}

std::unique_ptr<LoadStage> loader(const Json& params = Json::object()) {
  return make_stage<LoadStage>(load_schema(), params);
}

// The message of the ItemFailure that loading `path` throws ("" when it loads).
std::string load_error(LoadStage& st, const std::string& path) {
  try {
    run_item(st, file_item(path));
  } catch (const ItemFailure& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("audio.load decodes a real WAV exactly like an independent reader") {
  auto st = loader();
  const Item out = run_item(*st, file_item(kFrontCenter));
  // scipy.io.wavfile's int16 samples / 32768 (written by the parity fixture script).
  const Tensor want = read_npy(binary_path("generated/audio/signals/speech48k.npy"));
  REQUIRE(out.kind == Kind::Audio);
  REQUIRE(out.tensor.shape() == want.shape());
  const float* a = out.tensor.data<float>();
  const float* b = want.data<float>();
  int64_t mismatches = 0;
  for (int64_t i = 0; i < want.numel(); ++i) mismatches += a[i] != b[i];
  CHECK(mismatches == 0);
  CHECK(out.sample_rate == 48000);
  CHECK(out.meta["audio"]["channels"] == 1);
  CHECK(out.meta["audio"]["sample_rate"] == 48000);
  CHECK(out.meta["audio"]["frames"] == want.dim(1));
  CHECK(out.meta["audio"]["subtype"] == "Signed 16 bit PCM");
}

TEST_CASE("audio.load channel handling on a stereo Ogg Vorbis file") {
  auto stereo = loader({{"mono", false}});
  const Item both = run_item(*stereo, file_item(kBell));
  REQUIRE(both.tensor.ndim() == 2);
  REQUIRE(both.tensor.dim(0) == 2);
  CHECK(both.sample_rate == 44100);
  const int64_t n = both.tensor.dim(1);
  const float* l = both.tensor.data<float>();
  const float* r = l + n;

  const Item mono = run_item(*loader(), file_item(kBell));
  REQUIRE(mono.tensor.shape() == std::vector<int64_t>{1, n});
  const Item right = run_item(*loader({{"channel", 1}}), file_item(kBell));
  REQUIRE(right.tensor.shape() == std::vector<int64_t>{1, n});
  double mix_err = 0, right_err = 0, lr_diff = 0;
  for (int64_t i = 0; i < n; ++i) {
    mix_err = std::max(mix_err, std::fabs(mono.tensor.data<float>()[i] - 0.5 * (l[i] + r[i])));
    right_err = std::max(right_err, std::fabs(double(right.tensor.data<float>()[i]) - r[i]));
    lr_diff = std::max(lr_diff, std::fabs(double(l[i]) - r[i]));
  }
  CHECK(mix_err < 1e-7);
  CHECK(right_err == 0);
  CHECK(lr_diff > 1e-3);  // the channels differ, so the checks above mean something
  CHECK(load_error(*loader({{"channel", 2}}), kBell).find("channel 2 requested") !=
        std::string::npos);
}

TEST_CASE("audio.load FLAC, offset/duration, peak normalisation") {
  TempDir dir("load");
  const std::string flac = dir.file("sine.flac");
  write_sine(flac, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, 16000, 440.0, 0.5);

  const Item all = run_item(*loader(), file_item(flac));
  REQUIRE(all.tensor.shape() == std::vector<int64_t>{1, 16000});
  double err = 0;
  for (int i = 0; i < 16000; ++i)
    err = std::max(
        err, std::fabs(all.tensor.data<float>()[i] - 0.5 * std::sin(2 * M_PI * 440 * i / 16000.0)));
  CHECK(err <= 1.0 / 32768);  // 16-bit quantisation

  const Item span = run_item(*loader({{"offset", 0.25}, {"duration", 0.5}}), file_item(flac));
  REQUIRE(span.tensor.shape() == std::vector<int64_t>{1, 8000});
  CHECK(span.tensor.data<float>()[0] == all.tensor.data<float>()[4000]);
  CHECK(span.tensor.data<float>()[7999] == all.tensor.data<float>()[11999]);

  const Item peak = run_item(*loader({{"normalize", "peak"}}), file_item(flac));
  float mx = 0;
  for (int i = 0; i < 16000; ++i) mx = std::max(mx, std::fabs(peak.tensor.data<float>()[i]));
  CHECK(mx == Approx(1.0f).margin(1e-6));

  CHECK(load_error(*loader({{"offset", 2.0}}), flac).find("past the end") != std::string::npos);
  CHECK(load_error(*loader({{"max_duration", 0.5}}), flac).find("exceeds max_duration") !=
        std::string::npos);
}

TEST_CASE("audio.load resamples with soxr to a clean sine") {
  TempDir dir("resample");
  const std::string wav = dir.file("sine48k.wav");
  write_sine(wav, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 1, 48000, 1000.0, 0.5);
  const Item out = run_item(*loader({{"sample_rate", 16000}}), file_item(wav));
  CHECK(out.sample_rate == 16000);
  REQUIRE(out.tensor.shape() == std::vector<int64_t>{1, 16000});
  // Away from the edges (filter warm-up) the output is the same 1 kHz sine sampled at 16 kHz.
  double err = 0;
  for (int i = 200; i < 15800; ++i)
    err = std::max(err, std::fabs(out.tensor.data<float>()[i] -
                                  0.5 * std::sin(2 * M_PI * 1000 * i / 16000.0)));
  CHECK(err < 1e-3);
}

TEST_CASE("audio.load: every bad input is an error naming the file, and the next file loads") {
  TempDir dir("bad");
  auto st = loader();
  const std::string good = dir.file("good.wav");
  write_sine(good, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 1600);

  auto expect_error = [&](const std::string& path, const std::string& reason) {
    const std::string msg = load_error(*st, path);
    std::printf("bad input %-12s → %s\n", fs::path(path).filename().c_str(), msg.c_str());
    INFO(path << " → \"" << msg << "\"");
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(reason) != std::string::npos);
    // The same stage instance goes on with the next file.
    CHECK(run_item(*st, file_item(good)).tensor.dim(1) == 1600);
  };

  SECTION("zero-length file") {
    write_file(dir.file("empty.wav"), "");
    expect_error(dir.file("empty.wav"), "libsndfile cannot read it");
  }
  SECTION("header-only WAV") {
    write_sine(dir.file("header.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 0);
    CHECK(fs::file_size(dir.file("header.wav")) == 44);
    expect_error(dir.file("header.wav"), "contains no audio samples");
  }
  SECTION("truncated FLAC") {
    const std::string flac = dir.file("cut.flac");
    write_sine(flac, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, 48000);
    fs::resize_file(flac, fs::file_size(flac) / 2);
    expect_error(flac, "truncated or corrupt");
  }
  SECTION("truncated WAV") {
    const std::string wav = dir.file("cut.wav");
    write_sine(wav, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 16000);
    fs::resize_file(wav, 1000);
    expect_error(wav, "truncated");
    // Opt-in: what is there loads ((1000 - 44) / 2 samples).
    CHECK(run_item(*loader({{"allow_truncated", true}}), file_item(wav)).tensor.dim(1) == 478);
  }
  SECTION("text file named .wav") {
    write_file(dir.file("notes.wav"), "these are not samples\n");
    expect_error(dir.file("notes.wav"), "libsndfile cannot read it");
  }
  SECTION("a directory") {
    fs::create_directory(dir.file("folder.wav"));
    expect_error(dir.file("folder.wav"), "is a directory");
  }
  SECTION("missing file") {
    expect_error(dir.file("gone.wav"), "no such file");
  }
  SECTION("a FIFO fails at once instead of waiting for a writer") {
    const std::string fifo = dir.file("pipe.wav");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto pending = std::async(std::launch::async, [&] { return load_error(*st, fifo); });
    if (pending.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      // Unblock the reader (a writer end appears), then fail: the stage had blocked on open.
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
      FAIL("audio.load blocked on a FIFO");
    }
    const std::string msg = pending.get();
    INFO(msg);
    CHECK(msg.find("FIFO") != std::string::npos);
    CHECK(msg.find("not a regular file") != std::string::npos);
  }
  SECTION("NaN and infinite float samples") {
    const std::string wav = dir.file("nan.wav");
    SF_INFO info{};
    info.samplerate = 16000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* f = sf_open(wav.c_str(), SFM_WRITE, &info);
    REQUIRE(f);
    std::vector<float> samples(1600, 0.25f);
    samples[10] = std::nanf("");
    samples[20] = -INFINITY;
    REQUIRE(sf_writef_float(f, samples.data(), 1600) == 1600);
    sf_close(f);
    expect_error(wav, "2 samples are NaN or infinite");
  }
  SECTION("a FLAC header claiming 2^36 frames, with no duration limit") {
    const std::string flac = dir.file("liar.flac");
    write_sine(flac, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, 1600);
    // STREAMINFO (after "fLaC" and the 4-byte block header): bytes 13..17 of the block hold
    // 4 bits of the channel/bps field and the 36-bit total sample count.
    std::fstream io(flac, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(8 + 13);
    char b = 0;
    io.read(&b, 1);
    io.seekp(8 + 13);
    const char claim[5] = {static_cast<char>((b & 0xF0) | 0x0F), '\xFF', '\xFF', '\xFF', '\xFF'};
    io.write(claim, 5);
    io.close();
    auto lenient = loader({{"max_duration", 0.0}});
    const std::string msg = load_error(*lenient, flac);
    INFO(msg);
    // Whatever libsndfile makes of the claim, the answer is this item's error or its real
    // samples, never std::bad_alloc.
    CHECK(msg.find("bad_alloc") == std::string::npos);
    if (!msg.empty()) CHECK(msg.find(flac) != std::string::npos);
  }
  SECTION("0 Hz sample rate in the header") {
    const std::string wav = dir.file("zero_rate.wav");
    write_sine(wav, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 1600);
    std::fstream f(wav, std::ios::in | std::ios::out | std::ios::binary);
    const char zero[8] = {0};
    f.seekp(24);  // RIFF fmt chunk: sample rate, then byte rate
    f.write(zero, 8);
    f.close();
    const std::string msg = load_error(*st, wav);
    std::printf("bad input %-12s → %s\n", "zero_rate.wav", msg.c_str());
    INFO(msg);
    CHECK(msg.find(wav) != std::string::npos);
    const bool named = msg.find("sample rate") != std::string::npos ||
                       msg.find("libsndfile cannot read it") != std::string::npos;
    CHECK(named);
  }
  SECTION("unreadable permissions") {
    const std::string wav = dir.file("secret.wav");
    write_sine(wav, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 1600);
    REQUIRE(::chmod(wav.c_str(), 0) == 0);
    if (::geteuid() != 0) {
      expect_error(wav, "Permission denied");
    } else {
      // root reads anything: check as user nobody in a child process.
      REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
        const std::string msg = load_error(*st, wav);
        ::_exit(msg.find(wav) != std::string::npos &&
                        msg.find("Permission denied") != std::string::npos
                    ? 0
                    : 1);
      }
      int status = 0;
      ::waitpid(pid, &status, 0);
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 0);
    }
  }
}

TEST_CASE("audio.load rejects a 0 Hz or absurd sample_rate parameter before running") {
  for (int64_t rate : {int64_t(0), int64_t(-16000), int64_t(1000000000)}) {
    INFO("sample_rate " << rate);
    try {
      resolve_params(load_schema(), "load", {{"sample_rate", rate}});
      FAIL("accepted");
    } catch (const ConfigError& e) {
      CHECK(std::string(e.what()).find("sample_rate") != std::string::npos);
    }
    // Built directly (no schema validation), the stage itself refuses.
    CHECK_THROWS_AS(LoadStage(Params("load",
                                     {{"sample_rate", rate},
                                      {"quality", "high"},
                                      {"mono", true},
                                      {"offset", 0.0},
                                      {"max_duration", 0.0},
                                      {"normalize", "none"}},
                                     {})),
                    ConfigError);
  }
}
