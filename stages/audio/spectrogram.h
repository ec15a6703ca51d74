// audio.spectrogram: Audio [C, samples] → Spectrogram [n_freq_or_mels, n_frames] (per channel
// [C, F, T] for multi-channel input), matching torchaudio's Spectrogram, MelSpectrogram and
// AmplitudeToDB.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "stages/audio/buffer_pool.h"
#include "stages/audio/mel.h"
#include "stages/audio/stft.h"

namespace embedflow {

StageSchema spectrogram_schema();

class SpectrogramStage : public ItemStage {
 public:
  explicit SpectrogramStage(const Params& params);
  void open(const StageContext& ctx) override;
  void process(const Item& in, Item& out) override;

 private:
  struct Mel {
    int n_mels;
    double f_min;
    std::optional<double> f_max;  // unset: sample_rate / 2
    audio::MelScale scale;
    bool slaney_norm;
  };
  struct Db {
    double multiplier;  // 10 for power, 20 for magnitude
    double amin;
    double ref_db;  // multiplier * log10(max(amin, ref))
    std::optional<double> top_db;
  };
  // The filterbank for one sample rate, built on first use and shared by all items at that rate.
  std::shared_ptr<const audio::SparseFilterbank> filterbank(int sample_rate);

  audio::StftOptions stft_options_;
  std::string wisdom_file_;
  std::optional<Mel> mel_;
  std::optional<Db> db_;
  std::optional<double> log_offset_;
  std::unique_ptr<audio::Stft> stft_;
  std::mutex filterbank_mutex_;
  std::map<int, std::shared_ptr<const audio::SparseFilterbank>> filterbanks_;
  // Results' storage, recycled once downstream drops them (a few items' worth).
  audio::BufferPool outputs_{8, size_t{64} << 20};
};

}  // namespace embedflow
