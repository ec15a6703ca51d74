// libFuzzer target for audio.load (stages/audio/load.cpp): a file's bytes through the stage as a
// pipeline runs it — the input-file check, libsndfile's decoding, the stage's header checks,
// size bounds (offset, duration, max_duration), NaN/Inf refusal, channel selection or mixing,
// resampling with soxr and peak normalisation.
//
// Input: three bytes of parameters, then the file. The file is written to a scratch file (tmpfs
// when there is one) named with the extension the first byte picks, and loaded from there like
// any file of a folder. Every input must fail the item with an ItemFailure that names the file,
// or give Audio f32 [channels, samples] with samples > 0, the channel count the parameters ask
// for, the requested rate (else the file's), finite samples, integer PCM within [-1, 1] when not
// resampled, |peak| = 1 when normalised, and no more than max_duration seconds.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <typeinfo>

#include <sndfile.h>

#include "embedflow/config.h"
#include "embedflow/errors.h"
#include "embedflow/item.h"
#include "fuzz_input.h"
#include "stages/audio/load.h"

namespace {

using embedflow::fuzz::check;
using embedflow::fuzz::fail;

// One scratch file per process (libFuzzer -jobs runs several), removed at exit.
std::string scratch_path(const std::string& extension) {
  static const std::string dir = [] {
    std::error_code ec;
    if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0)
      return std::string("/dev/shm");
    return std::filesystem::temp_directory_path().string();
  }();
  static const std::string stem = dir + "/embedflow-audio-fuzz-" + std::to_string(::getpid());
  static const bool cleanup_registered = [] {
    std::atexit([] {
      for (const char* ext : {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".au", ".caf", ".w64"})
        std::remove((stem + ext).c_str());
    });
    return true;
  }();
  (void)cleanup_registered;
  return stem + extension;
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail("cannot create the scratch file " + path);
  if (size && std::fwrite(data, 1, size, f) != size) fail("cannot write " + path);
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const embedflow::StageSchema schema = embedflow::load_schema();
  embedflow::fuzz::ByteReader in(data, size);
  const uint8_t a = in.byte(), b = in.byte(), c = in.byte();

  static const char* const kExtensions[] = {".wav",  ".flac", ".ogg", ".mp3",
                                            ".aiff", ".au",   ".caf", ".w64"};
  static const int kRates[] = {8000, 16000, 22050, 44100, 48000, 11025, 1, 96000};
  static const char* const kQualities[] = {"quick", "low", "medium", "high"};
  embedflow::Json params = embedflow::Json::object();
  const bool mono = a & 1;
  const bool pick_channel = a & 2;
  const bool peak = a & 4;
  const bool resample = a & 8;
  const bool span = a & 16;
  params["mono"] = mono;
  if (pick_channel) params["channel"] = b & 3;
  if (peak) params["normalize"] = "peak";
  if (resample) {
    params["sample_rate"] = kRates[(b >> 2) & 7];
    params["quality"] = kQualities[(b >> 5) & 3];
  }
  if (span) {
    params["offset"] = 0.01 * ((c >> 4) & 7);
    params["duration"] = 0.05;
  }
  params["allow_truncated"] = (b & 0x80) != 0;
  // Small enough that a decompression bomb (a few KB of FLAC or Vorbis declaring hours of
  // 8-channel audio) stays within the fuzzer's memory limit, and that resampling from a header's
  // rate of up to 1.5 MHz costs milliseconds, not the 60 ms per input that held a long campaign
  // to 17 executions per second; the check is the same at any size.
  const double max_duration = (c & 8) ? 0.05 : 0.25;
  params["max_duration"] = max_duration;
  const std::string path = scratch_path(kExtensions[c & 7]);
  write_file(path, in.rest(), in.rest_size());

  embedflow::LoadStage stage(embedflow::resolve_params(schema, "load", params));
  embedflow::Item item;
  item.kind = embedflow::Kind::File;
  item.id = "fuzz";
  item.source = path;
  embedflow::Item out = item.derive();
  try {
    stage.process(item, out);
  } catch (const embedflow::ItemFailure& e) {
    check(std::string(e.what()).find(path) != std::string::npos,
          std::string("an item failure that does not name the file: ") + e.what());
    return 0;
  } catch (const std::exception& e) {
    fail(std::string("audio.load threw ") + typeid(e).name() +
         " instead of ItemFailure: " + e.what());
  }

  check(out.kind == embedflow::Kind::Audio, "output is not audio");
  const embedflow::Tensor& t = out.tensor;
  check(t.dtype() == embedflow::DType::F32 && t.ndim() == 2, "output is not f32 [C, N]");
  const embedflow::Json& meta = out.meta.at("audio");
  const int file_channels = meta.at("channels").get<int>();
  const int file_rate = meta.at("sample_rate").get<int>();
  check(file_channels >= 1 && file_rate >= 1 && file_rate <= 1536000, "implausible header");
  const int64_t want_channels = (pick_channel || mono) ? 1 : file_channels;
  check(t.dim(0) == want_channels,
        "got " + std::to_string(t.dim(0)) + " channels, expected " + std::to_string(want_channels));
  check(t.dim(1) > 0, "loaded zero samples");
  if (resample)
    check(out.sample_rate == kRates[(b >> 2) & 7], "not at the requested rate");
  else
    check(out.sample_rate == file_rate, "not at the file's rate");
  const double seconds = static_cast<double>(t.dim(1)) / out.sample_rate;
  check(seconds <= max_duration + 2.0 / std::min(out.sample_rate, file_rate) + 1e-9,
        std::to_string(seconds) + " s loaded, max_duration is " + std::to_string(max_duration));

  const std::string subtype = meta.at("subtype").get<std::string>();
  const bool integer_pcm = subtype.rfind("Signed ", 0) == 0 || subtype.rfind("Unsigned ", 0) == 0;
  // The message is built only on failure: a string per sample was most of the target's time.
  const float* x = t.data<float>();
  const int64_t count = t.numel();
  float largest = 0.0f;
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(x[i])) fail("a non-finite sample at " + std::to_string(i));
    largest = std::max(largest, std::fabs(x[i]));
  }
  if (peak) check(largest == 0.0f || std::fabs(largest - 1.0f) < 1e-6f, "peak is not 1");
  if (integer_pcm && !resample && !peak)
    check(largest <= 1.0f, subtype + " sample of magnitude " + std::to_string(largest));
  return 0;
}
