// audio.load: decoding against independent readers, channel handling, resampling, and every
// class of bad input becoming an error for that file only.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>

#include <fcntl.h>
#include <sndfile.h>
#include <sys/resource.h>
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

// Writes interleaved float samples (frames × channels) with libsndfile.
void write_samples(const std::string& path, int format, int rate, int channels,
                   const std::vector<float>& samples) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  REQUIRE(f != nullptr);
  const sf_count_t frames = static_cast<sf_count_t>(samples.size()) / channels;
  REQUIRE(sf_writef_float(f, samples.data(), frames) == frames);
  sf_close(f);
}

// Writes `frames` frames of a sine (one per channel, channel c at freq*(c+1)) with libsndfile.
void write_sine(const std::string& path, int format, int rate, int channels, int64_t frames,
                double freq = 440.0, double amp = 0.5) {
  std::vector<float> buf(static_cast<size_t>(frames) * channels);
  for (int64_t i = 0; i < frames; ++i)
    for (int c = 0; c < channels; ++c)
      buf[i * channels + c] =
          static_cast<float>(amp * std::sin(2 * M_PI * freq * (c + 1) * i / rate));
  write_samples(path, format, rate, channels, buf);
}

std::unique_ptr<LoadStage> loader(const Json& params = Json::object()) {
  return open_stage<LoadStage>(load_schema(), params);
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

TEST_CASE("audio.load resamples each channel apart: its own sine, the bits of that channel alone") {
  // Channel c is a sine at 500·(c+1) Hz. Each is resampled on its own (one soxr resampler
  // cleared between channels): nothing of one may leak into another, none may swap places, and
  // a channel is the same bits whether loaded with the others or picked alone.
  TempDir dir("resample_channels");
  const std::string wav = dir.file("three48k.wav");
  write_sine(wav, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 3, 48000, 500.0, 0.5);
  const Item all = run_item(*loader({{"sample_rate", 16000}, {"mono", false}}), file_item(wav));
  REQUIRE(all.tensor.shape() == std::vector<int64_t>{3, 16000});
  for (int c = 0; c < 3; ++c) {
    INFO("channel " << c);
    const float* x = all.tensor.data<float>() + c * 16000;
    double err = 0;
    for (int i = 200; i < 15800; ++i)
      err = std::max(err, std::fabs(x[i] - 0.5 * std::sin(2 * M_PI * 500 * (c + 1) * i / 16000.0)));
    CHECK(err < 1e-3);
    const Item alone = run_item(*loader({{"sample_rate", 16000}, {"channel", c}}), file_item(wav));
    REQUIRE(alone.tensor.shape() == std::vector<int64_t>{1, 16000});
    CHECK(std::memcmp(alone.tensor.data<float>(), x, 16000 * sizeof(float)) == 0);
  }
}

TEST_CASE("audio.load refuses resampling ratios beyond 256 either way and names the file") {
  // A 24 Hz header asked for 96 kHz made soxr take 2.4 GB (the fuzzer's input, as WAV here).
  TempDir dir("ratio");
  const std::string slow = dir.file("24hz.wav");
  write_sine(slow, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 24, 2, 48, 1.0);
  auto up = loader({{"sample_rate", 96000}});
  const std::string msg = load_error(*up, slow);
  CHECK_THAT(msg, Catch::Contains(slow) && Catch::Contains("24 Hz to 96000 Hz") &&
                      Catch::Contains("1:256"));
  // At the limit it resamples: 375 Hz → 96 kHz is exactly 256.
  const std::string edge = dir.file("375hz.wav");
  write_sine(edge, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 375, 1, 375, 10.0);
  const Item out = run_item(*up, file_item(edge));
  CHECK(out.sample_rate == 96000);
  CHECK(out.tensor.shape() == std::vector<int64_t>{1, 96000});
  // Down as well: 96 kHz to 300 Hz is a ratio of 320.
  const std::string fast = dir.file("96k.wav");
  write_sine(fast, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 96000, 1, 960);
  CHECK_THAT(load_error(*loader({{"sample_rate", 300}}), fast), Catch::Contains("1:256"));
}

TEST_CASE(
    "audio.load: float samples near ±3.4e38 mix to their mean, and a resampling overflow fails") {
  // Found by tests/fuzz/audio_load_fuzz: a float WAV may hold samples up to FLT_MAX; summing
  // two of them in float gave infinity when mixing to mono, and soxr's filters did when
  // resampling, both passed on as samples.
  TempDir dir("huge");
  const std::string wav = dir.file("huge.wav");
  const float big = std::numeric_limits<float>::max();
  std::vector<float> frames(2 * 1600);
  for (size_t i = 0; i < frames.size(); ++i) frames[i] = (i / 2) % 2 ? -big : big;
  write_samples(wav, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 2, frames);
  // The mean of two equal samples is that sample.
  const Item mixed = run_item(*loader({{"mono", true}}), file_item(wav));
  REQUIRE(mixed.tensor.shape() == std::vector<int64_t>{1, 1600});
  CHECK(mixed.tensor.data<float>()[0] == big);
  CHECK(mixed.tensor.data<float>()[1] == -big);
  const std::string msg = load_error(*loader({{"sample_rate", 8000}}), wav);
  CHECK_THAT(msg,
             Catch::Contains(wav) && Catch::Contains("overflowed") && Catch::Contains("3.4e+38"));
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
    expect_error(flac, "truncated");
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
    std::vector<float> samples(1600, 0.25f);
    samples[10] = std::nanf("");
    samples[20] = -INFINITY;
    write_samples(wav, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, samples);
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

namespace {

uint8_t crc8(const std::string& bytes) {  // FLAC frame header CRC: x^8 + x^2 + x + 1, init 0
  uint8_t crc = 0;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int i = 0; i < 8; ++i)
      crc = static_cast<uint8_t>(crc & 0x80 ? (crc << 1) ^ 0x07 : crc << 1);
  }
  return crc;
}

uint16_t crc16(const std::string& bytes) {  // FLAC frame footer CRC: x^16 + x^15 + x^2 + 1, init 0
  uint16_t crc = 0;
  for (unsigned char b : bytes) {
    crc ^= static_cast<uint16_t>(b << 8);
    for (int i = 0; i < 8; ++i)
      crc = static_cast<uint16_t>(crc & 0x8000 ? (crc << 1) ^ 0x8005 : crc << 1);
  }
  return crc;
}

// A FLAC file written byte by byte from the format specification: 16 kHz mono 16-bit,
// STREAMINFO claiming `total_samples` (36 bits), then `frames` frames of 4096 samples, each a
// CONSTANT subframe of `value`.
std::string flac_bytes(uint64_t total_samples, int frames, int16_t value) {
  std::string s = "fLaC";
  s += '\x80';                              // last metadata block, type 0 (STREAMINFO)
  s += std::string("\x00\x00\x22", 3);      // 34 bytes
  s += std::string("\x10\x00\x10\x00", 4);  // min and max block size 4096
  s += std::string(6, '\0');                // min and max frame size: unknown
  // 20 bits sample rate (16000 = 0x03E80), 3 bits channels - 1 (0), 5 bits bits - 1 (15),
  // 36 bits total samples.
  const uint64_t packed = (uint64_t{16000} << 44) | (uint64_t{0} << 41) | (uint64_t{15} << 36) |
                          (total_samples & ((uint64_t{1} << 36) - 1));
  for (int i = 7; i >= 0; --i) s += static_cast<char>((packed >> (8 * i)) & 0xFF);
  s += std::string(16, '\0');  // MD5 unknown: no check
  for (int f = 0; f < frames; ++f) {
    std::string frame = "\xFF\xF8";  // sync, fixed block size
    frame += '\xC5';                 // 4096 samples, 16 kHz
    frame += '\x08';                 // mono, 16 bits per sample
    frame += static_cast<char>(f);   // frame number (UTF-8 coded, < 128)
    frame += static_cast<char>(crc8(frame));
    frame += '\0';  // CONSTANT subframe, no wasted bits
    frame += static_cast<char>((value >> 8) & 0xFF);
    frame += static_cast<char>(value & 0xFF);
    const uint16_t crc = crc16(frame);
    frame += static_cast<char>(crc >> 8);
    frame += static_cast<char>(crc & 0xFF);
    s += frame;
  }
  return s;
}

// A 16 kHz mono 16-bit WAV of `samples` samples of `value` whose data chunk (and RIFF size)
// claim `declared_data_bytes`.
std::string wav_bytes(uint32_t declared_data_bytes, int samples, int16_t value) {
  auto le32 = [](uint32_t v) {
    std::string b(4, '\0');
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    return b;
  };
  auto le16 = [](uint16_t v) {
    return std::string{static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)};
  };
  std::string s = "RIFF" + le32(declared_data_bytes + 36) + "WAVE";
  s += "fmt " + le32(16) + le16(1) + le16(1) + le32(16000) + le32(32000) + le16(2) + le16(16);
  s += "data" + le32(declared_data_bytes);
  for (int i = 0; i < samples; ++i) s += le16(static_cast<uint16_t>(value));
  return s;
}

long resident_kb() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

struct BatchOutcome {
  std::vector<std::string> results;  // per file: "ok <samples> <first sample>" or the error
  long rss_growth_kb = 0;            // peak resident memory of the load beyond the parent's
};

// Loads `paths` one after the other with one stage, in a child process so that its peak
// resident memory is its own (wait4), never hidden by an earlier test's peak.
BatchOutcome load_batch_in_child(const Json& params, const std::vector<std::string>& paths,
                                 const std::string& report) {
  const long before = resident_kb();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::ofstream out(report);
    auto st = loader(params);
    for (const auto& p : paths) {
      try {
        const Item item = run_item(*st, file_item(p));
        out << "ok " << item.tensor.dim(1) << " " << item.tensor.data<float>()[0] << "\n";
      } catch (const std::exception& e) {
        std::string msg = e.what();
        for (char& c : msg)
          if (c == '\n') c = ' ';
        out << msg << "\n";
      }
    }
    out.close();
    ::_exit(0);
  }
  int status = 0;
  struct rusage usage {};
  REQUIRE(::wait4(pid, &status, 0, &usage) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  BatchOutcome o;
  o.results = read_lines(report);
  o.rss_growth_kb = usage.ru_maxrss - before;
  return o;
}

}  // namespace

TEST_CASE("audio.load: a FLAC header claiming 2^36 - 1 frames with max_duration 0 fails that file",
          "[audio][hostile]") {
  TempDir dir("liar");
  // Control: the same bytes with a true count decode to exactly what the frames hold, so the
  // hand-written frames are valid FLAC and the liar below fails for its claim alone.
  write_file(dir.file("true.flac"), flac_bytes(2 * 4096, 2, 4096));
  write_file(dir.file("liar.flac"), flac_bytes((uint64_t{1} << 36) - 1, 2, 4096));
  write_file(dir.file("after.flac"), flac_bytes(4096, 1, -8192));
  const BatchOutcome o =
      load_batch_in_child({{"max_duration", 0.0}},
                          {dir.file("true.flac"), dir.file("liar.flac"), dir.file("after.flac")},
                          dir.file("report.txt"));
  REQUIRE(o.results.size() == 3);
  CHECK(o.results[0] == "ok 8192 0.125");  // 4096 / 32768
  CHECK(o.results[2] == "ok 4096 -0.25");  // the item after the liar is unharmed
  const std::string& msg = o.results[1];
  INFO(msg);
  CHECK_THAT(msg, Catch::Contains(dir.file("liar.flac")) &&
                      Catch::Contains("68719476735 frames") &&  // what the header claims
                      Catch::Contains("8192") &&                // what the file holds
                      Catch::Contains("allow_truncated") && !Catch::Contains("bad_alloc"));
  // A reservation the size of the claim (256 GiB of float) is what must not happen; what it
  // does keep is bounded by the 64 MB cap of the up-front reservation.
  CHECK(o.rss_growth_kb < 100 * 1024);

  // The limit, when set, is checked against the claim before anything is decoded.
  const BatchOutcome limited =
      load_batch_in_child(Json::object(), {dir.file("liar.flac")}, dir.file("report2.txt"));
  REQUIRE(limited.results.size() == 1);
  CHECK_THAT(limited.results[0],
             Catch::Contains("exceeds max_duration") && Catch::Contains("raise max_duration"));
}

TEST_CASE("audio.load: a WAV whose data chunk size lies is one file's error, bounded in memory",
          "[audio][hostile]") {
  TempDir dir("liar");
  write_file(dir.file("liar.wav"), wav_bytes(0x7FFFFF00u, 1600, 8192));
  write_file(dir.file("good.wav"), wav_bytes(3200, 1600, -16384));
  const BatchOutcome strict = load_batch_in_child(
      {{"max_duration", 0.0}}, {dir.file("liar.wav"), dir.file("good.wav")}, dir.file("r1.txt"));
  REQUIRE(strict.results.size() == 2);
  INFO(strict.results[0]);
  CHECK_THAT(strict.results[0], Catch::Contains(dir.file("liar.wav")) &&
                                    Catch::Contains("truncated") &&
                                    Catch::Contains(std::to_string(0x7FFFFF00u)) &&
                                    Catch::Contains("allow_truncated"));
  CHECK(strict.results[1] == "ok 1600 -0.5");
  CHECK(strict.rss_growth_kb < 100 * 1024);

  // Opted in: the samples that are there, and nothing made up for the rest of the claim.
  const BatchOutcome lenient =
      load_batch_in_child({{"max_duration", 0.0}, {"allow_truncated", true}},
                          {dir.file("liar.wav")}, dir.file("r2.txt"));
  REQUIRE(lenient.results.size() == 1);
  CHECK(lenient.results[0] == "ok 1600 0.25");
  CHECK(lenient.rss_growth_kb < 100 * 1024);
}
