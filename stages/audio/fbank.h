// audio.fbank: Kaldi-compatible log mel filterbank features, as
// torchaudio.compliance.kaldi.fbank computes them (the input AST and other Kaldi-trained audio
// models expect).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "stages/audio/fftw_plans.h"
#include "stages/audio/mel.h"

namespace embedflow {

StageSchema fbank_schema();

class FbankStage : public ItemStage {
 public:
  explicit FbankStage(const Params& params);
  void open(const StageContext& ctx) override;
  void process(const Item& in, Item& out) override;

 private:
  struct Options {
    double frame_length_ms, frame_shift_ms;
    int num_mel_bins;
    double low_freq, high_freq;
    double dither, preemphasis, energy_floor, blackman_coeff, log_floor;
    bool remove_dc_offset, round_to_power_of_two, snip_edges, raw_energy, use_energy, htk_compat,
        use_log_fbank, use_power, subtract_mean;
    std::string window_type;
    int channel;
    int expected_sample_rate;  // 0: any
  };
  // Everything that depends on the sample rate, made once per rate.
  struct Setup {
    int window_size, window_shift, padded_size;
    std::vector<float> window;
    std::shared_ptr<const audio::RealFftPlan> plan;
    audio::SparseFilterbank filterbank;
  };
  std::shared_ptr<const Setup> setup_for(int sample_rate);

  Options opt_;
  audio::RealFftPlan::Planning planning_ = audio::RealFftPlan::Planning::Estimate;
  std::string wisdom_file_;
  std::mutex mutex_;
  std::map<int, std::shared_ptr<const Setup>> setups_;
};

}  // namespace embedflow
