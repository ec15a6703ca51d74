#include "stages/audio/load.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include <sndfile.h>
#include <soxr.h>

#include "embedflow/errors.h"
#include "embedflow/input_file.h"
#include "embedflow/params.h"

namespace embedflow {

namespace {

constexpr int kMaxSampleRate = 1536000;
// The largest resampling ratio, up or down, audio.load accepts (375 Hz → 96 kHz is 256).
constexpr int kMaxResampleRatio = 256;
constexpr sf_count_t kChunkFrames = 1 << 15;
constexpr sf_count_t kChunkSamples = 1 << 20;

std::string format_name(int format) {
  SF_FORMAT_INFO info{};
  info.format = format;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof info) == 0 && info.name)
    return info.name;
  return "unknown";
}

std::string seconds_str(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", s);
  return buf;
}

std::string magnitude_str(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", x);
  return buf;
}

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};

}  // namespace

std::string sndfile_supported_formats() {
  int count = 0;
  sf_command(nullptr, SFC_GET_FORMAT_MAJOR_COUNT, &count, sizeof count);
  std::string out;
  for (int i = 0; i < count; ++i) {
    SF_FORMAT_INFO info{};
    info.format = i;
    if (sf_command(nullptr, SFC_GET_FORMAT_MAJOR, &info, sizeof info) != 0) continue;
    if (!out.empty()) out += ", ";
    out += std::string(info.name) + " (." + info.extension + ")";
  }
  // Codecs that live inside the containers above and that users ask about by name.
  std::vector<std::string> codecs;
  for (int subtype : {SF_FORMAT_VORBIS, SF_FORMAT_OPUS, SF_FORMAT_MPEG_LAYER_III}) {
    SF_INFO probe{};
    probe.channels = 1;
    probe.samplerate = 48000;
    probe.format = (subtype == SF_FORMAT_MPEG_LAYER_III ? SF_FORMAT_MPEG : SF_FORMAT_OGG) | subtype;
    if (sf_format_check(&probe)) codecs.push_back(format_name(subtype));
  }
  if (!codecs.empty()) {
    out += ". Codecs: ";
    for (size_t i = 0; i < codecs.size(); ++i) out += (i ? ", " : "") + codecs[i];
  }
  return out;
}

StageSchema load_schema() {
  StageSchema s;
  s.type = "audio.load";
  s.kind = StageKind::Map;
  s.summary = "Decode an audio file to float32 samples (libsndfile), optionally resampled (soxr).";
  s.doc =
      "Reads the file named by the item's source and outputs Audio f32 `[channels, samples]` "
      "with values in [-1, 1] for integer formats (libsndfile's scaling, the same as "
      "torchaudio.load), the sample rate, and `meta.audio` = {format, subtype, channels, "
      "sample_rate, frames, duration} of the file as stored.\n\n"
      "Formats this build reads: " +
      sndfile_supported_formats() +
      ".\n\nChannels: `mono: true` (default) averages them; `channel: k` picks one; `mono: "
      "false` keeps all. `offset`/`duration` select a span in seconds (of the file's own rate) "
      "before resampling. Empty, corrupt, truncated or unsupported files, folders and unreadable "
      "files fail with libsndfile's reason; the run goes on with the other files.";
  s.inputs = {{"in", {Kind::File, Kind::None}, "item whose source is an audio file path"}};
  s.output = Kind::Audio;
  s.params = {
      ParamSpec::integer("sample_rate", std::nullopt)
          .no_default()
          .range(1, kMaxSampleRate)
          .describe("Resample to this rate (Hz) with libsoxr. Default: keep the file's rate."),
      ParamSpec::enumeration("quality", "high", {"quick", "low", "medium", "high", "very_high"})
          .describe("libsoxr recipe: quick (cubic), low/medium (16-bit), high (20-bit), "
                    "very_high (28-bit)."),
      ParamSpec::boolean("mono", true).describe("Average all channels into one."),
      ParamSpec::integer("channel", std::nullopt)
          .no_default()
          .range(0, 1023)
          .describe("Keep only this channel (0-based); overrides `mono`."),
      ParamSpec::number("offset", 0.0).range(0, std::nullopt).describe("Start (seconds)."),
      ParamSpec::number("duration", std::nullopt)
          .no_default()
          .range(0, std::nullopt)
          .describe("Length to read (seconds). Default: to the end."),
      ParamSpec::number("max_duration", 3600.0)
          .range(0, std::nullopt)
          .describe("Files (or spans) longer than this many seconds fail instead of filling "
                    "memory. 0: no limit."),
      ParamSpec::boolean("allow_truncated", false)
          .describe("Load the samples a truncated file still holds (fewer than its header "
                    "declares) instead of failing."),
      ParamSpec::enumeration("normalize", "none", {"none", "peak"})
          .describe("peak: scale so the largest |sample| is 1 (silence stays silent)."),
  };
  return s;
}

LoadStage::LoadStage(const Params& p) {
  if (p.has("sample_rate")) {
    const int64_t sr = p.get_int("sample_rate");
    if (sr < 1 || sr > kMaxSampleRate)
      throw p.error("sample_rate", "sample_rate " + std::to_string(sr) + " Hz is outside [1, " +
                                       std::to_string(kMaxSampleRate) + "]");
    sample_rate_ = static_cast<int>(sr);
  }
  const std::string q = p.get_string("quality");
  quality_recipe_ = q == "quick"    ? SOXR_QQ
                    : q == "low"    ? SOXR_LQ
                    : q == "medium" ? SOXR_MQ
                    : q == "high"   ? SOXR_HQ
                                    : SOXR_VHQ;
  mono_ = p.get_bool("mono");
  if (p.has("channel")) channel_ = static_cast<int>(p.get_int("channel"));
  offset_ = p.get_float("offset");
  if (p.has("duration")) duration_ = p.get_float("duration");
  max_duration_ = p.get_float("max_duration");
  if (offset_ < 0) throw p.error("offset", "offset must be >= 0");
  peak_normalize_ = p.get_string("normalize") == "peak";
  allow_truncated_ = p.has("allow_truncated") && p.get_bool("allow_truncated");
}

void LoadStage::process(const Item& in, Item& out) {
  const std::string& path = in.source;
  if (path.empty()) throw ItemFailure("item has no source path to load audio from");
  check_input_file(path);
  SF_INFO info{};
  std::unique_ptr<SNDFILE, SndfileCloser> file;
  {
    // A failed sf_open leaves its reason in one process-wide slot: read it before another
    // thread's failure overwrites it.
    static std::mutex open_mutex;
    std::lock_guard<std::mutex> lock(open_mutex);
    file.reset(sf_open(path.c_str(), SFM_READ, &info));
    if (!file)
      throw ItemFailure("'" + path + "': libsndfile cannot read it: " + sf_strerror(nullptr));
  }
  const std::string format = format_name(info.format & SF_FORMAT_TYPEMASK) + " / " +
                             format_name(info.format & SF_FORMAT_SUBMASK);
  if (info.samplerate < 1 || info.samplerate > kMaxSampleRate)
    throw ItemFailure("'" + path + "': invalid sample rate " + std::to_string(info.samplerate) +
                      " Hz in the header (" + format + ")");
  if (info.channels < 1) throw ItemFailure("'" + path + "': header declares no channels");
  if (info.frames <= 0)
    throw ItemFailure("'" + path + "': contains no audio samples (" + format + ", header only)");
  if (!allow_truncated_) {
    // WAV-family readers clamp a data chunk that runs past the end of the file and say so only
    // in their log ("data : 137090 (should be 56)"). Sizes 0 and 0xFFFFFFFF mean "unknown"
    // (streamed files) and are fine.
    char log[8192] = {0};
    sf_command(file.get(), SFC_GET_LOG_INFO, log, sizeof log - 1);
    const char* d = std::strstr(log, "\ndata : ");
    long long declared = 0, actual = 0;
    if (d && std::sscanf(d, "\ndata : %lld (should be %lld)", &declared, &actual) == 2 &&
        declared > actual && declared != 0xFFFFFFFFLL && declared != 0x7FFFFFFFLL)
      throw ItemFailure("'" + path + "': truncated: the header declares " +
                        std::to_string(declared) + " bytes of audio, the file holds " +
                        std::to_string(actual) + " (allow_truncated: true loads what is there)");
  }
  if (channel_ && *channel_ >= info.channels)
    throw ItemFailure("'" + path + "': channel " + std::to_string(*channel_) +
                      " requested, the file has " + std::to_string(info.channels));

  const double rate = info.samplerate;
  const sf_count_t first = static_cast<sf_count_t>(std::llround(offset_ * rate));
  if (first >= info.frames)
    throw ItemFailure("'" + path + "': offset " + seconds_str(offset_) + " is past the end (" +
                      seconds_str(info.frames / rate) + ")");
  sf_count_t count = info.frames - first;
  if (duration_) count = std::min<sf_count_t>(count, std::llround(*duration_ * rate));
  if (count <= 0) throw ItemFailure("'" + path + "': duration selects no samples");
  if (max_duration_ > 0 && count / rate > max_duration_)
    throw ItemFailure("'" + path + "': its header declares " + std::to_string(count) + " frames (" +
                      seconds_str(count / rate) + " at " + std::to_string(info.samplerate) +
                      " Hz), which exceeds max_duration " + seconds_str(max_duration_) +
                      "; raise max_duration (0: no limit) if the file really is that long");
  if (first > 0 && sf_seek(file.get(), first, SEEK_SET) < 0)
    throw ItemFailure("'" + path + "': cannot seek to " + seconds_str(offset_) + ": " +
                      sf_strerror(file.get()));

  // Decode in chunks straight into the output layout (mixed or per channel).
  const int file_ch = info.channels;
  const bool mix = !channel_ && mono_ && file_ch > 1;
  const int out_ch = (channel_ || mono_) ? 1 : file_ch;
  std::vector<std::vector<float>> planes(out_ch, std::vector<float>());
  // The frame count is the header's claim: a lying one (2^36 frames in a 1 KB FLAC) must not
  // reserve memory the data never fills, so reserve at most ~64 MB up front and grow with what
  // really decodes.
  constexpr sf_count_t kMaxReserveFrames = sf_count_t{1} << 24;
  for (auto& pl : planes) pl.reserve(static_cast<size_t>(std::min(count, kMaxReserveFrames)));
  // Integer formats cannot hold NaN or infinity; float ones can, and a NaN would come out of the
  // spectrogram as a plausible-looking constant, so such files fail here.
  const int subtype = info.format & SF_FORMAT_SUBMASK;
  const bool float_data = subtype == SF_FORMAT_FLOAT || subtype == SF_FORMAT_DOUBLE;
  int64_t non_finite = 0;
  // Read buffer: at most kChunkFrames frames and kChunkSamples samples, and no more frames
  // than the span. A header declaring 1024 channels once cost 128 MB of zeroed buffer for a
  // file of one frame (seen profiling tests/fuzz/audio_load_fuzz).
  const sf_count_t chunk_frames = std::max<sf_count_t>(
      1, std::min({kChunkFrames, count, kChunkSamples / static_cast<sf_count_t>(file_ch)}));
  std::vector<float> chunk(static_cast<size_t>(chunk_frames) * file_ch);
  sf_count_t done = 0;
  while (done < count) {
    const sf_count_t want = std::min(chunk_frames, count - done);
    const sf_count_t got = sf_readf_float(file.get(), chunk.data(), want);
    if (got <= 0) break;
    if (float_data)
      for (sf_count_t i = 0; i < got * file_ch; ++i) non_finite += !std::isfinite(chunk[i]);
    for (sf_count_t i = 0; i < got; ++i) {
      const float* frame = chunk.data() + i * file_ch;
      if (mix) {
        // In double: float samples near ±3.4e38 (legal in a float file) overflow a float sum,
        // and their mean never does. Two channels give the float sum's bits (but for subnormal
        // means).
        double sum = 0.0;
        for (int c = 0; c < file_ch; ++c) sum += frame[c];
        planes[0].push_back(static_cast<float>(sum / file_ch));
      } else if (channel_) {
        planes[0].push_back(frame[*channel_]);
      } else {
        for (int c = 0; c < out_ch; ++c) planes[c].push_back(frame[c]);
      }
    }
    done += got;
  }
  const int err = sf_error(file.get());
  // MPEG frame counts are estimates from the header; everything else must decode fully.
  const bool exact_count = (info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_MPEG;
  if (err == SF_ERR_NO_ERROR && exact_count && done > 0 && done < count && !allow_truncated_)
    // The frame count in the header is a claim (a lying one costs nothing: see the reservation
    // above); the file says how much audio there really is.
    throw ItemFailure("'" + path + "': truncated, or its header lies (" + format +
                      "): the header declares " + std::to_string(count) + " frames (" +
                      seconds_str(count / rate) + " at " + std::to_string(info.samplerate) +
                      " Hz), the file holds " + std::to_string(done) +
                      "; re-encode it, or set allow_truncated: true to load what is there");
  if (err != SF_ERR_NO_ERROR || done == 0)
    throw ItemFailure("'" + path + "': truncated or corrupt (" + format + "): decoded " +
                      std::to_string(done) + " of " + std::to_string(count) + " frames" +
                      (err != SF_ERR_NO_ERROR ? std::string(": ") + sf_strerror(file.get()) : ""));
  if (non_finite > 0)
    throw ItemFailure("'" + path + "': " + std::to_string(non_finite) +
                      " samples are NaN or infinite (" + format +
                      "); a spectrogram of them would be meaningless");
  for (auto& pl : planes) pl.resize(static_cast<size_t>(done));

  int out_rate = info.samplerate;
  if (sample_rate_ && *sample_rate_ != info.samplerate) {
    out_rate = *sample_rate_;
    // soxr's memory and time grow with the conversion ratio, whatever the length: 3 frames of
    // a 24 Hz file took 2.4 GB and 12 s to reach 96 kHz (found by tests/fuzz/audio_load_fuzz).
    // Such ratios come from corrupt or non-audio headers, not from audio anyone resamples.
    const double ratio = static_cast<double>(out_rate) / info.samplerate;
    if (ratio > kMaxResampleRatio || ratio < 1.0 / kMaxResampleRatio)
      throw ItemFailure("'" + path + "': resampling " + std::to_string(info.samplerate) +
                        " Hz to " + std::to_string(out_rate) +
                        " Hz is a ratio beyond 1:" + std::to_string(kMaxResampleRatio) +
                        " either way, which audio.load refuses (a header at " +
                        std::to_string(info.samplerate) +
                        " Hz is likely corrupt); check the file, or resample it with sox first");
    const size_t in_len = static_cast<size_t>(done);
    const size_t out_len =
        static_cast<size_t>(std::llround(static_cast<double>(in_len) * out_rate / rate));
    if (out_len == 0)
      throw ItemFailure("'" + path + "': " + std::to_string(in_len) +
                        " samples resample to nothing at " + std::to_string(out_rate) + " Hz");
    std::vector<std::vector<float>> resampled(out_ch, std::vector<float>(out_len));
    auto failed = [&](const std::string& why) {
      return ItemFailure("'" + path + "': resampling " + std::to_string(info.samplerate) + " → " +
                         std::to_string(out_rate) + " Hz failed: " + why);
    };
    // One single-channel resampler run over each channel in turn (cleared between them), the
    // input in one call and the end of the input in another (in = NULL, as soxr.h documents),
    // instead of soxr_oneshot, whose end of input inside the same call measured 3-8x slower on
    // real files (44.1 → 16 kHz of 10 s: 11.8 → 2.0 ms per channel; 8 channels 8 → 96 kHz:
    // 20 → 2.7 ms) and 3x on a 64-byte 46-channel file at 1:92 (0.77 → 0.25 s; found by
    // tests/fuzz/audio_load_fuzz). The channels never mix in soxr; the separate end-of-input
    // call rounds the last few samples otherwise (1e-5 dB in a spectrogram's last frame).
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_S, SOXR_FLOAT32_S);
    const soxr_quality_spec_t q = soxr_quality_spec(quality_recipe_, 0);
    soxr_error_t serr = nullptr;
    const std::unique_ptr<soxr, decltype(&soxr_delete)> resampler(
        soxr_create(rate, out_rate, 1, &serr, &io, &q, nullptr), &soxr_delete);
    if (serr || !resampler) throw failed(serr ? serr : "soxr_create returned nothing");
    size_t odone = 0;
    for (int c = 0; c < out_ch; ++c) {
      if (c > 0 && (serr = soxr_clear(resampler.get()))) throw failed(serr);
      const float* in_channel[1] = {planes[c].data()};
      float* out_channel[1] = {resampled[c].data()};
      size_t used = 0, got = 0;
      serr = soxr_process(resampler.get(), in_channel, in_len, &used, out_channel, out_len, &got);
      // Then the end of the input (in = NULL): the filter's last samples.
      for (size_t more = 1; !serr && more > 0 && got < out_len; got += more) {
        float* rest[1] = {resampled[c].data() + got};
        serr = soxr_process(resampler.get(), nullptr, 0, nullptr, rest, out_len - got, &more);
      }
      if (serr) throw failed(serr);
      if (c == 0) odone = got;
      if (got != odone) throw failed("the channels resampled to different lengths");
    }
    // soxr's filters sum float samples: near ±3.4e38 they overflow to infinity (found by
    // tests/fuzz/audio_load_fuzz), which would reach the spectrogram as an infinite dB value.
    for (auto& r : resampled) r.resize(odone);
    int64_t overflowed = 0;
    for (const auto& r : resampled)
      for (const float x : r) overflowed += !std::isfinite(x);
    if (overflowed > 0) {
      float largest = 0.0f;
      for (const auto& pl : planes)
        for (const float x : pl) largest = std::max(largest, std::fabs(x));
      throw failed(std::to_string(overflowed) +
                   " samples overflowed (infinite or NaN): the file's samples reach " +
                   magnitude_str(largest) +
                   " (audio is normally within ±1); check the file, or scale it first");
    }
    planes.swap(resampled);
  }

  const int64_t n = static_cast<int64_t>(planes[0].size());
  Tensor t(DType::F32, {out_ch, n});
  float* dst = t.data<float>();
  for (int c = 0; c < out_ch; ++c) std::copy(planes[c].begin(), planes[c].end(), dst + c * n);
  if (peak_normalize_) {
    const int64_t count = t.numel();
    float peak = 0.0f;
    for (int64_t i = 0; i < count; ++i) peak = std::max(peak, std::fabs(dst[i]));
    if (peak > 0.0f)
      for (int64_t i = 0; i < count; ++i) dst[i] /= peak;
  }

  out.kind = Kind::Audio;
  out.tensor = std::move(t);
  out.sample_rate = out_rate;
  out.meta["audio"] = {{"format", format_name(info.format & SF_FORMAT_TYPEMASK)},
                       {"subtype", format_name(info.format & SF_FORMAT_SUBMASK)},
                       {"channels", info.channels},
                       {"sample_rate", info.samplerate},
                       {"frames", info.frames},
                       {"duration", info.frames / rate}};
}

}  // namespace embedflow
