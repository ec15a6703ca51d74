#include "stages/audio/spectrogram.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "stages/audio/fast_log.h"
#include "stages/audio/window.h"

namespace embedflow {

StageSchema spectrogram_schema() {
  StageSchema s;
  s.type = "audio.spectrogram";
  s.kind = StageKind::Map;
  s.summary = "Short-time Fourier transform, optionally mel-scaled and in dB (torchaudio parity).";
  s.doc =
      "Computes |STFT|^power of each channel with FFTW (single precision, real-to-complex), "
      "optionally projects it onto a mel filterbank and converts it to decibels or a log scale.\n\n"
      "Parity: equals torchaudio 0.13 `transforms.Spectrogram` (`mel:` absent), `MelSpectrogram` "
      "(`mel:` present) and `AmplitudeToDB` (`db:`) for the same parameters, to float precision; "
      "defaults are torchaudio's. In dB, values more than ~60 dB below their frame's peak carry "
      "float32 FFT round-off (torchaudio's own float32 result differs from float64 there by up "
      "to ~1 dB), so two float32 implementations agree to 1e-3 dB only above that. Like torchaudio "
      "the mel bin frequencies use the integer Nyquist "
      "`sample_rate // 2`, and `top_db` clamps relative to the maximum of the whole item (all "
      "channels).\n\n"
      "Input `[channels, samples]`: a single channel gives `[n_freq_or_mels, n_frames]`; several "
      "channels give one spectrogram per channel stacked as `[channels, F, T]` (as torchaudio "
      "does; load with `mono: true` for one image per file). n_freq is n_fft/2+1; n_frames is "
      "1 + (samples + 2*pad + (center ? 2*(n_fft/2) : 0) - n_fft) / hop_length.\n\n"
      "Keeps `sample_rate` and writes `n_fft`, `win_length`, `hop_length`, `sample_rate`, "
      "`freq_scale` (linear|mel), `f_min`/`f_max`, `mel_scale` (htk|slaney, mel only) and "
      "`units` (power|magnitude|dB|log) into the item's meta for downstream stages (write.png "
      "plots its axes from them).";
  s.inputs = {{"in", {Kind::Audio}, "audio, f32 [channels, samples]"}};
  s.output = Kind::Spectrogram;
  s.params = {
      ParamSpec::integer("n_fft", 400).range(2, 1 << 16).describe("FFT size; n_fft/2+1 bins."),
      ParamSpec::integer("win_length", std::nullopt)
          .no_default()
          .range(1, 1 << 16)
          .describe("Window length (<= n_fft, zero-padded and centred). Default: n_fft."),
      ParamSpec::integer("hop_length", std::nullopt)
          .no_default()
          .range(1, 1 << 20)
          .describe("Samples between frames. Default: win_length // 2."),
      ParamSpec::integer("pad", 0).range(0, 1 << 20).describe("Zeros added on both sides first."),
      ParamSpec::enumeration("window", "hann", audio::window_names())
          .describe("Analysis window (torch.*_window; povey is Kaldi's hann^0.85)."),
      ParamSpec::boolean("periodic", true)
          .describe("Periodic window (torch default) or symmetric (periodic: false)."),
      ParamSpec::boolean("center", true)
          .describe("Pad n_fft/2 on both sides so frame t is centred at t*hop_length."),
      ParamSpec::enumeration("pad_mode", "reflect", {"reflect", "constant"})
          .describe("Padding used by `center`."),
      ParamSpec::number("power", 2.0)
          .range(1e-6, 16)
          .describe("Exponent of the magnitude: 1 = magnitude, 2 = power."),
      ParamSpec::boolean("normalized", false)
          .describe("Divide the STFT by the window's L2 norm (torchaudio normalized=True)."),
      ParamSpec::enumeration("fft_planning", "estimate", {"estimate", "measure", "patient"})
          .describe("FFTW planner effort. estimate: deterministic, bit-identical results on every "
                    "run; measure/patient: may find a faster plan, but the choice (and the last "
                    "bits of the output) can change between runs unless `wisdom` pins it."),
      ParamSpec::path("wisdom").no_default().describe(
          "FFTW wisdom file: imported before planning, updated after new plans."),
      ParamSpec::block(
          "mel",
          {ParamSpec::integer("n_mels", 128).range(1, 4096).describe("Number of mel filters."),
           ParamSpec::number("f_min", 0.0).range(0, std::nullopt).describe("Lowest edge (Hz)."),
           ParamSpec::number("f_max", std::nullopt)
               .no_default()
               .range(0, std::nullopt)
               .describe("Highest edge (Hz). Default: sample_rate // 2."),
           ParamSpec::enumeration("scale", "htk", {"htk", "slaney"}).describe("Mel scale formula."),
           ParamSpec::enumeration("norm", "none", {"none", "slaney"})
               .describe("slaney: divide each triangle by its width (constant energy per band).")})
          .describe("Project onto a mel filterbank (torchaudio MelScale / MelSpectrogram)."),
      ParamSpec::block(
          "db",
          {ParamSpec::enumeration("stype", "power", {"power", "magnitude"})
               .describe("What the input is: power (10*log10) or magnitude (20*log10). Set "
                         "magnitude when power is 1."),
           ParamSpec::number("ref", 1.0).range(0, std::nullopt).describe("Reference value (0 dB)."),
           ParamSpec::number("amin", 1e-10).range(0, std::nullopt).describe("Floor before log."),
           ParamSpec::number("top_db", std::nullopt)
               .no_default()
               .range(0, std::nullopt)
               .describe("Clamp to (max - top_db) over the item. Default: no clamp.")})
          .describe("Convert to decibels (torchaudio AmplitudeToDB / amplitude_to_DB)."),
      ParamSpec::block("log", {ParamSpec::number("offset", 1e-6)
                                   .range(0, std::nullopt)
                                   .describe("Added before the natural log.")})
          .describe("Natural log: log(x + offset). Exclusive with `db`."),
  };
  return s;
}

SpectrogramStage::SpectrogramStage(const Params& p) {
  audio::StftOptions& o = stft_options_;
  o.n_fft = static_cast<int>(p.get_int("n_fft"));
  o.win_length = p.has("win_length") ? static_cast<int>(p.get_int("win_length")) : o.n_fft;
  if (o.win_length > o.n_fft)
    throw p.error("win_length", "win_length " + std::to_string(o.win_length) +
                                    " is larger than n_fft " + std::to_string(o.n_fft));
  o.hop_length = p.has("hop_length") ? static_cast<int>(p.get_int("hop_length")) : o.win_length / 2;
  if (o.hop_length < 1)
    throw p.error("hop_length", "hop_length must be at least 1 (win_length // 2 is 0)");
  o.pad = static_cast<int>(p.get_int("pad"));
  o.window = p.get_string("window");
  o.periodic = p.get_bool("periodic");
  o.center = p.get_bool("center");
  o.pad_mode =
      p.get_string("pad_mode") == "constant" ? audio::PadMode::Constant : audio::PadMode::Reflect;
  o.power = p.get_float("power");
  if (!(o.power > 0)) throw p.error("power", "power must be > 0");
  o.normalized = p.get_bool("normalized");
  o.planning = audio::RealFftPlan::planning_from_name(p.get_string("fft_planning"));
  if (p.has("wisdom")) wisdom_file_ = p.get_string("wisdom");

  if (p.has("mel")) {
    Params m = p.block("mel");
    Mel mel;
    mel.n_mels = static_cast<int>(m.get_int("n_mels"));
    mel.f_min = m.get_float("f_min");
    if (m.has("f_max")) {
      mel.f_max = m.get_float("f_max");
      if (*mel.f_max <= mel.f_min) throw m.error("f_max", "f_max must be greater than f_min");
    }
    mel.scale = m.get_string("scale") == "slaney" ? audio::MelScale::Slaney : audio::MelScale::Htk;
    mel.slaney_norm = m.get_string("norm") == "slaney";
    mel_ = mel;
  }
  if (p.has("db") && p.has("log")) throw p.error("log", "use either `db:` or `log:`, not both");
  if (p.has("db")) {
    Params d = p.block("db");
    Db db;
    db.multiplier = d.get_string("stype") == "magnitude" ? 20.0 : 10.0;
    db.amin = d.get_float("amin");
    if (!(db.amin >= std::numeric_limits<float>::min()))
      throw d.error("amin", "amin must be a positive normal float (>= 1.2e-38)");
    db.ref_db = db.multiplier * std::log10(std::max(db.amin, d.get_float("ref")));
    if (d.has("top_db")) db.top_db = d.get_float("top_db");
    db_ = db;
  }
  if (p.has("log")) log_offset_ = p.block("log").get_float("offset");
}

void SpectrogramStage::open(const StageContext& ctx) {
  (void)ctx;
  stft_ = std::make_unique<audio::Stft>(stft_options_, wisdom_file_);
}

std::shared_ptr<const audio::SparseFilterbank> SpectrogramStage::filterbank(int sample_rate) {
  std::lock_guard<std::mutex> lock(filterbank_mutex_);
  auto& fb = filterbanks_[sample_rate];
  if (!fb) {
    const double f_max = mel_->f_max ? *mel_->f_max : sample_rate / 2;
    fb = std::make_shared<audio::SparseFilterbank>(
        audio::torchaudio_mel_filterbank(stft_->bins(), mel_->f_min, f_max, mel_->n_mels,
                                         sample_rate, mel_->slaney_norm, mel_->scale));
  }
  return fb;
}

void SpectrogramStage::process(const Item& in, Item& out) {
  if (!stft_) throw std::logic_error("audio.spectrogram: process() before open()");
  const Tensor& wave = in.tensor;
  if (wave.dtype() != DType::F32 || wave.ndim() != 2)
    throw ItemFailure("expected audio as f32 [channels, samples], got " +
                      std::string(dtype_name(wave.dtype())) + " " + wave.shape_str());
  if (mel_ && in.sample_rate <= 0)
    throw ItemFailure("audio has no sample rate (" + std::to_string(in.sample_rate) +
                      "); the mel filterbank needs one");
  const int64_t channels = wave.dim(0), samples = wave.dim(1);
  int64_t n_frames;
  try {
    n_frames = stft_->frames(samples);
  } catch (const std::invalid_argument& e) {
    throw ItemFailure(e.what());
  }

  std::shared_ptr<const audio::SparseFilterbank> fb;
  if (mel_) fb = filterbank(in.sample_rate);
  const int rows = fb ? fb->filters() : stft_->bins();

  std::vector<int64_t> shape{rows, n_frames};
  if (channels > 1) shape.insert(shape.begin(), channels);
  // Every element is written below: no zero fill (Tensor's own constructor would add a pass).
  size_t bytes = sizeof(float);
  for (int64_t d : shape) bytes *= static_cast<size_t>(d);
  std::shared_ptr<void> storage = outputs_.get(bytes);
  void* data = storage.get();
  Tensor result(DType::F32, std::move(shape), std::move(storage), data);
  float* dst_all = result.data<float>();

  constexpr int tile_frames = audio::Stft::kBlockFrames;
  static_assert(tile_frames == 8, "apply_tile8_to takes 8-frame tiles");
  const float db_mult = db_ ? static_cast<float>(db_->multiplier) : 0.0f;
  const float db_amin = db_ ? static_cast<float>(db_->amin) : 0.0f;
  const float db_ref = db_ ? static_cast<float>(db_->ref_db) : 0.0f;
  const float log_offset = log_offset_ ? static_cast<float>(*log_offset_) : 0.0f;
  // Mel projection and conversion in one step, except log(x + offset) for a subnormal offset,
  // which needs libm.
  const bool log_libm = log_offset_ && !(log_offset >= std::numeric_limits<float>::min());
  audio::SparseFilterbank::TileOutput tile_out;
  if (db_) {
    tile_out.kind = audio::SparseFilterbank::TileOutput::Db;
    tile_out.multiplier = db_mult, tile_out.amin = db_amin, tile_out.ref_db = db_ref;
  } else if (log_offset_ && !log_libm) {
    tile_out.kind = audio::SparseFilterbank::TileOutput::Log;
    tile_out.offset = log_offset;
  }
  std::vector<float> mel_tile(fb && log_libm ? static_cast<size_t>(tile_frames) * rows : 0);
  // The spare columns of a last, partial tile hold zeros, whose dB value (the amin floor) is
  // never above the item's maximum; so whole tiles are converted.
  float db_max = -std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < channels; ++c) {
    const float* x = wave.data<float>() + c * samples;
    float* dst = dst_all + c * rows * n_frames;
    stft_->run(x, samples, [&](int64_t t0, int count, float* block) {
      float* out = dst + t0;
      if (fb && !log_libm) {
        db_max = std::max(db_max, fb->apply_tile8_to(block, tile_out, count, out, n_frames));
        return;
      }
      float* values = block;
      if (fb) {
        fb->apply_tile8_to(block, tile_out, tile_frames, mel_tile.data(), tile_frames);
        values = mel_tile.data();
      }
      const int64_t len = static_cast<int64_t>(rows) * tile_frames;
      if (db_) db_max = std::max(db_max, audio::db_inplace(values, len, db_mult, db_amin, db_ref));
      if (log_offset_) audio::log_inplace(values, len, log_offset);
      // Rows of the tile are rows of the output.
      for (int r = 0; r < rows; ++r)
        std::memcpy(out + r * n_frames, values + static_cast<size_t>(r) * tile_frames,
                    sizeof(float) * count);
    });
  }

  if (db_ && db_->top_db) {
    // torchaudio clamps against the maximum over the whole item (all channels).
    const int64_t total = result.numel();
    audio::clamp_below(dst_all, total, db_max - static_cast<float>(*db_->top_db));
  }

  const audio::StftOptions& o = stft_->options();
  out.kind = Kind::Spectrogram;
  out.tensor = std::move(result);
  out.sample_rate = in.sample_rate;
  out.meta["n_fft"] = o.n_fft;
  out.meta["win_length"] = o.win_length;
  out.meta["hop_length"] = o.hop_length;
  out.meta["sample_rate"] = in.sample_rate;
  out.meta["freq_scale"] = mel_ ? "mel" : "linear";
  if (mel_) {
    out.meta["f_min"] = mel_->f_min;
    out.meta["f_max"] = mel_->f_max ? *mel_->f_max : in.sample_rate / 2;
    // Which mel formula: what a plot needs to put frequency ticks where the bands are.
    out.meta["mel_scale"] = mel_->scale == audio::MelScale::Slaney ? "slaney" : "htk";
  } else {
    out.meta["f_min"] = 0.0;
    out.meta["f_max"] = in.sample_rate / 2.0;
  }
  out.meta["units"] = db_ ? "dB" : log_offset_ ? "log" : o.power == 1.0 ? "magnitude" : "power";
}

}  // namespace embedflow
