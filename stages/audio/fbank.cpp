#include "stages/audio/fbank.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <stdexcept>

#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "stages/audio/fast_log.h"
#include "stages/audio/window.h"

namespace embedflow {

namespace {

// torch.finfo(torch.float32).eps: Kaldi's floor before every log.
constexpr double kFloatEpsilon = 1.1920928955078125e-07;

int next_power_of_two(int x) {
  int p = 1;
  while (p < x) p <<= 1;
  return p;
}

}  // namespace

StageSchema fbank_schema() {
  StageSchema s;
  s.type = "audio.fbank";
  s.kind = StageKind::Map;
  s.summary = "Kaldi-compatible log mel filterbank features (torchaudio.compliance.kaldi.fbank).";
  s.doc =
      "Frames the signal Kaldi's way (25 ms povey windows every 10 ms by default), removes each "
      "frame's DC offset, applies pre-emphasis, zero-pads to a power of two, and sums the power "
      "spectrum into `num_mel_bins` Kaldi mel triangles, then takes the log.\n\n"
      "Parity: equals `torchaudio.compliance.kaldi.fbank` (torchaudio 0.13) with the same "
      "arguments, defaults included (VTLN warping is not supported). `sample_frequency` is the "
      "item's sample rate. Output is `[num_mel_bins (+1 with use_energy), n_frames]`, the "
      "Spectrogram layout; torchaudio returns the transpose `[n_frames, num_mel_bins]`. Reads "
      "channel `channel` of multi-channel audio, like torchaudio. With `dither` > 0 the noise is "
      "seeded from the item id, so runs are reproducible (torchaudio draws from torch's RNG). "
      "The meta holds the frame parameters, `freq_scale: mel`, `mel_scale: htk` (Kaldi's mel "
      "is HTK's) and `f_min`/`f_max` (the mel edges in Hz), for write.png's axes.";
  s.inputs = {{"in", {Kind::Audio}, "audio, f32 [channels, samples]"}};
  s.output = Kind::Spectrogram;
  s.params = {
      ParamSpec::integer("num_mel_bins", 23).range(4, 4096).describe("Number of mel bins."),
      ParamSpec::number("frame_length", 25.0).range(0.01, 10000).describe("Frame length (ms)."),
      ParamSpec::number("frame_shift", 10.0).range(0.01, 10000).describe("Frame shift (ms)."),
      ParamSpec::number("low_freq", 20.0).range(0, std::nullopt).describe("Lowest mel edge (Hz)."),
      ParamSpec::number("high_freq", 0.0)
          .describe("Highest mel edge (Hz); <= 0 is an offset from Nyquist."),
      ParamSpec::number("dither", 0.0)
          .range(0, std::nullopt)
          .describe("Gaussian noise stddev added to every sample (0: off)."),
      ParamSpec::number("preemphasis_coefficient", 0.97)
          .range(0, 1)
          .describe("x[i] -= c * x[i-1] within each frame."),
      ParamSpec::boolean("remove_dc_offset", true).describe("Subtract each frame's mean."),
      ParamSpec::enumeration("window_type", "povey",
                             {"povey", "hanning", "hamming", "blackman", "rectangular"})
          .describe("Kaldi window (symmetric)."),
      ParamSpec::number("blackman_coeff", 0.42).describe("Alpha of the blackman window."),
      ParamSpec::boolean("round_to_power_of_two", true)
          .describe("Zero-pad frames to the next power of two before the FFT."),
      ParamSpec::boolean("snip_edges", true)
          .describe("Only frames that fit in the signal; false: reflect at the ends and emit "
                    "round(samples / shift) frames."),
      ParamSpec::boolean("use_power", true).describe("Power spectrum (false: magnitude)."),
      ParamSpec::boolean("use_log_fbank", true).describe("Take the log of the mel energies."),
      ParamSpec::number("log_floor", kFloatEpsilon)
          .range(1.17549435e-38, std::nullopt)
          .describe("Mel energies are floored here before the log (Kaldi: float epsilon)."),
      ParamSpec::boolean("use_energy", false).describe("Add the frame log-energy as a row."),
      ParamSpec::boolean("raw_energy", true)
          .describe("Energy before pre-emphasis and windowing (Kaldi's default)."),
      ParamSpec::number("energy_floor", 1.0)
          .range(0, std::nullopt)
          .describe("Floor of the energy (0: none)."),
      ParamSpec::boolean("htk_compat", false)
          .describe("With use_energy: energy as the last row instead of the first."),
      ParamSpec::boolean("subtract_mean", false).describe("Subtract each bin's mean over frames."),
      ParamSpec::integer("channel", 0).range(0, 1024).describe("Channel of multi-channel audio."),
      ParamSpec::integer("sample_rate", std::nullopt)
          .no_default()
          .range(1, 1536000)
          .describe("Expected sample rate: items at another rate fail (guards a missing "
                    "resample). Default: accept any rate."),
      ParamSpec::enumeration("fft_planning", "estimate", {"estimate", "measure", "patient"})
          .describe("FFTW planner effort. estimate: deterministic, bit-identical results on every "
                    "run; measure/patient: may find a faster plan, but the choice (and the last "
                    "bits of the output) can change between runs unless `wisdom` pins it."),
      ParamSpec::path("wisdom").no_default().describe(
          "FFTW wisdom file: imported before planning, updated after new plans."),
  };
  return s;
}

FbankStage::FbankStage(const Params& p) {
  opt_.num_mel_bins = static_cast<int>(p.get_int("num_mel_bins"));
  opt_.frame_length_ms = p.get_float("frame_length");
  opt_.frame_shift_ms = p.get_float("frame_shift");
  opt_.low_freq = p.get_float("low_freq");
  opt_.high_freq = p.get_float("high_freq");
  opt_.dither = p.get_float("dither");
  opt_.preemphasis = p.get_float("preemphasis_coefficient");
  opt_.remove_dc_offset = p.get_bool("remove_dc_offset");
  opt_.window_type = p.get_string("window_type");
  opt_.blackman_coeff = p.get_float("blackman_coeff");
  opt_.round_to_power_of_two = p.get_bool("round_to_power_of_two");
  opt_.snip_edges = p.get_bool("snip_edges");
  opt_.use_power = p.get_bool("use_power");
  opt_.use_log_fbank = p.get_bool("use_log_fbank");
  opt_.log_floor = p.get_float("log_floor");
  opt_.use_energy = p.get_bool("use_energy");
  opt_.raw_energy = p.get_bool("raw_energy");
  opt_.energy_floor = p.get_float("energy_floor");
  opt_.htk_compat = p.get_bool("htk_compat");
  opt_.subtract_mean = p.get_bool("subtract_mean");
  opt_.channel = static_cast<int>(p.get_int("channel"));
  opt_.expected_sample_rate = p.has("sample_rate") ? static_cast<int>(p.get_int("sample_rate")) : 0;
  planning_ = audio::RealFftPlan::planning_from_name(p.get_string("fft_planning"));
  if (p.has("wisdom")) wisdom_file_ = p.get_string("wisdom");
}

void FbankStage::open(const StageContext& ctx) {
  (void)ctx;
  // Plan at graph build time for the rate we expect (other rates plan on first use).
  setup_for(opt_.expected_sample_rate ? opt_.expected_sample_rate : 16000);
}

std::shared_ptr<const FbankStage::Setup> FbankStage::setup_for(int sample_rate) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = setups_[sample_rate];
  if (slot) return slot;
  auto s = std::make_shared<Setup>();
  // Same expressions as torchaudio (double arithmetic, truncation).
  s->window_shift = static_cast<int>(sample_rate * opt_.frame_shift_ms * 0.001);
  s->window_size = static_cast<int>(sample_rate * opt_.frame_length_ms * 0.001);
  if (s->window_size < 2 || s->window_shift < 1)
    throw ItemFailure("frame_length " + std::to_string(opt_.frame_length_ms) + " ms / shift " +
                      std::to_string(opt_.frame_shift_ms) + " ms is less than 2 / 1 samples at " +
                      std::to_string(sample_rate) + " Hz");
  s->padded_size = opt_.round_to_power_of_two ? next_power_of_two(s->window_size) : s->window_size;
  if (s->padded_size % 2 != 0)
    throw ItemFailure("the frame of " + std::to_string(s->padded_size) +
                      " samples is odd: use round_to_power_of_two or change frame_length");
  const std::string window = opt_.window_type == "hanning" ? "hann" : opt_.window_type;
  s->window = audio::make_window(window, s->window_size, /*periodic=*/false, opt_.blackman_coeff);
  s->plan = audio::RealFftPlan::get(s->padded_size, planning_, wisdom_file_);
  try {
    s->filterbank = audio::kaldi_mel_filterbank(opt_.num_mel_bins, s->padded_size, sample_rate,
                                                opt_.low_freq, opt_.high_freq);
  } catch (const std::invalid_argument& e) {
    throw ItemFailure(std::string(e.what()) + " at " + std::to_string(sample_rate) + " Hz");
  }
  slot = s;
  return s;
}

void FbankStage::process(const Item& in, Item& out) {
  const Tensor& wave = in.tensor;
  if (wave.dtype() != DType::F32 || wave.ndim() != 2)
    throw ItemFailure("expected audio as f32 [channels, samples], got " +
                      std::string(dtype_name(wave.dtype())) + " " + wave.shape_str());
  if (in.sample_rate <= 0) throw ItemFailure("audio has no sample rate");
  if (opt_.expected_sample_rate && in.sample_rate != opt_.expected_sample_rate)
    throw ItemFailure("audio is at " + std::to_string(in.sample_rate) + " Hz, expected " +
                      std::to_string(opt_.expected_sample_rate) +
                      " Hz (resample with audio.load sample_rate)");
  if (opt_.channel >= wave.dim(0))
    throw ItemFailure("channel " + std::to_string(opt_.channel) + " requested, audio has " +
                      std::to_string(wave.dim(0)));
  const std::shared_ptr<const Setup> setup = setup_for(in.sample_rate);
  const Setup& s = *setup;
  const int64_t n = wave.dim(1);
  const float* x = wave.data<float>() + opt_.channel * n;
  if (n < s.window_size)
    throw ItemFailure("audio of " + std::to_string(n) + " samples is shorter than one frame (" +
                      std::to_string(s.window_size) + " samples)");

  int64_t n_frames;
  int64_t pad = 0;  // snip_edges=false: frames start at t*shift - pad in a reflected signal
  if (opt_.snip_edges) {
    n_frames = 1 + (n - s.window_size) / s.window_shift;
  } else {
    n_frames = (n + s.window_shift / 2) / s.window_shift;
    pad = s.window_size / 2 - s.window_shift / 2;
  }
  // Kaldi's reflection repeats the edge sample: [.. x1 x0 | x0 x1 ..].
  auto sample = [&](int64_t j) -> float {
    if (j < 0) j = -j - 1;
    if (j >= n) j = 2 * n - 1 - j;
    return x[std::clamp<int64_t>(j, 0, n - 1)];
  };

  const int n_bins = opt_.num_mel_bins;
  const int rows = n_bins + (opt_.use_energy ? 1 : 0);
  const int mel_row0 = opt_.use_energy && !opt_.htk_compat ? 1 : 0;
  const int energy_row = opt_.htk_compat ? n_bins : 0;
  Tensor result(DType::F32, {rows, n_frames});
  float* dst = result.data<float>();

  const int nfft = s.padded_size, nb = nfft / 2 + 1, ws = s.window_size;
  audio::AlignedBuffer<float> frame(nfft);
  audio::AlignedBuffer<fftwf_complex> spec(nb);
  std::vector<float> power(nb), mel(n_bins);
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(in.id)));
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  const float eps = static_cast<float>(kFloatEpsilon);
  const float log_energy_floor =
      opt_.energy_floor > 0 ? static_cast<float>(std::log(opt_.energy_floor)) : -INFINITY;
  const float pre = static_cast<float>(opt_.preemphasis);

  for (int64_t t = 0; t < n_frames; ++t) {
    float* f = frame.data();
    const int64_t first = t * s.window_shift - pad;
    if (first >= 0 && first + ws <= n) {
      std::copy(x + first, x + first + ws, f);
    } else {
      for (int i = 0; i < ws; ++i) f[i] = sample(first + i);
    }
    if (opt_.dither != 0.0)
      for (int i = 0; i < ws; ++i) f[i] += static_cast<float>(opt_.dither) * gauss(rng);
    if (opt_.remove_dc_offset) {
      float sum = 0.0f;
      for (int i = 0; i < ws; ++i) sum += f[i];
      const float mean = sum / static_cast<float>(ws);
      for (int i = 0; i < ws; ++i) f[i] -= mean;
    }
    auto log_energy = [&](const float* v, int len) {
      float e = 0.0f;
      for (int i = 0; i < len; ++i) e += v[i] * v[i];
      const float le = std::log(std::max(e, eps));
      return opt_.energy_floor == 0.0 ? le : std::max(le, log_energy_floor);
    };
    float energy = 0.0f;
    if (opt_.use_energy && opt_.raw_energy) energy = log_energy(f, ws);
    if (pre != 0.0f) {
      for (int i = ws - 1; i > 0; --i) f[i] -= pre * f[i - 1];
      f[0] -= pre * f[0];  // Kaldi replicates the first sample as its predecessor
    }
    for (int i = 0; i < ws; ++i) f[i] *= s.window[i];
    std::fill(f + ws, f + nfft, 0.0f);
    if (opt_.use_energy && !opt_.raw_energy) energy = log_energy(f, nfft);

    s.plan->execute(f, spec.data());
    const fftwf_complex* c = spec.data();
    for (int k = 0; k < nb; ++k) {
      const float p2 = c[k][0] * c[k][0] + c[k][1] * c[k][1];
      power[k] = opt_.use_power ? p2 : std::sqrt(p2);
    }
    s.filterbank.apply(power.data(), 1, nb, mel.data());
    for (int b = 0; b < n_bins; ++b) {
      float v = mel[b];
      if (opt_.use_log_fbank) v = std::log(std::max(v, static_cast<float>(opt_.log_floor)));
      dst[(mel_row0 + b) * n_frames + t] = v;
    }
    if (opt_.use_energy) dst[energy_row * n_frames + t] = energy;
  }

  if (opt_.subtract_mean) {
    for (int r = 0; r < rows; ++r) {
      float* row = dst + r * n_frames;
      double sum = 0.0;
      for (int64_t t = 0; t < n_frames; ++t) sum += row[t];
      const float mean = static_cast<float>(sum / n_frames);
      for (int64_t t = 0; t < n_frames; ++t) row[t] -= mean;
    }
  }

  out.kind = Kind::Spectrogram;
  out.tensor = std::move(result);
  out.sample_rate = in.sample_rate;
  out.meta["n_fft"] = nfft;
  out.meta["win_length"] = ws;
  out.meta["hop_length"] = s.window_shift;
  out.meta["sample_rate"] = in.sample_rate;
  out.meta["freq_scale"] = "mel";
  // Kaldi's mel (1127·ln(1 + f/700)) is HTK's; high_freq <= 0 counts back from Nyquist.
  out.meta["mel_scale"] = "htk";
  out.meta["f_min"] = opt_.low_freq;
  out.meta["f_max"] = opt_.high_freq > 0 ? opt_.high_freq : in.sample_rate / 2.0 + opt_.high_freq;
  out.meta["units"] = opt_.use_log_fbank ? "log" : opt_.use_power ? "power" : "magnitude";
}

}  // namespace embedflow
