// audio.spectrogram throughput on a batch of clips: the C++ half of bench/audio/run_bench.py.
//
//   spectrogram_bench --clips clips.npy --sample-rate 16000 --threads 1,2 --repeats 5
//
// clips.npy is f32 [N, samples]; each clip is one item processed by the stage, items spread
// over a TBB arena of the given size (the engine's model for a map stage with concurrency).
// Prints one JSON object: {"threads": {"1": {"best_s", "audio_s_per_s", "cpu_s",
// "audio_s_per_cpu_s"}, ...}} (best of --repeats passes, wall clock and process CPU time).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <string>
#include <vector>

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "embedflow/config.h"
#include "embedflow/npy.h"
#include "stages/audio/spectrogram.h"

using namespace embedflow;

// CPU time of the whole process (all threads): a load-independent measure on a shared machine.
static double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  CLI::App app{"audio.spectrogram throughput"};
  std::string clips_path, threads_list = "1,2", dump;
  int sample_rate = 16000, repeats = 5;
  app.add_option("--clips", clips_path, "f32 [N, samples] .npy")->required();
  app.add_option("--sample-rate", sample_rate);
  app.add_option("--threads", threads_list, "comma-separated thread counts");
  app.add_option("--repeats", repeats, "timed passes per thread count (best is reported)");
  app.add_option("--dump", dump, "write clip 0's output here (.npy) for the parity check");
  CLI11_PARSE(app, argc, argv);

  const Tensor clips = read_npy(clips_path);
  const int64_t n = clips.dim(0), samples = clips.dim(1);
  std::vector<Item> items(n);
  for (int64_t i = 0; i < n; ++i) {
    // Zero-copy views of each row, like items coming out of audio.load.
    auto owner = std::make_shared<Tensor>(clips);
    items[i].id = "clip" + std::to_string(i);
    items[i].kind = Kind::Audio;
    items[i].sample_rate = sample_rate;
    items[i].tensor = Tensor(DType::F32, {1, samples}, owner,
                             const_cast<float*>(clips.data<float>()) + i * samples);
  }

  // torchaudio MelSpectrogram(n_fft=400, hop_length=160, n_mels=128) + AmplitudeToDB(top_db=80),
  // the parameters of configs/audio_spectrograms.yaml.
  const Json params = {
      {"n_fft", 400}, {"hop_length", 160}, {"mel", {{"n_mels", 128}}}, {"db", {{"top_db", 80.0}}}};
  SpectrogramStage stage(resolve_params(spectrogram_schema(), "mel", params));
  StageContext ctx;
  stage.open(ctx);

  std::vector<Item> outs(n);
  auto pass = [&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, 1),
                      [&](const tbb::blocked_range<int64_t>& r) {
                        for (int64_t i = r.begin(); i < r.end(); ++i) {
                          outs[i] = items[i].derive();
                          stage.process(items[i], outs[i]);
                        }
                      });
  };

  nlohmann::json result;
  result["clips"] = n;
  result["seconds_per_clip"] = static_cast<double>(samples) / sample_rate;
  std::stringstream ss(threads_list);
  for (std::string tok; std::getline(ss, tok, ',');) {
    const int t = std::stoi(tok);
    tbb::task_arena arena(t);
    double best = 1e30, best_cpu = 1e30;
    arena.execute([&] {
      pass();  // warm-up: page faults, caches, the filterbank for this rate
      for (int r = 0; r < repeats; ++r) {
        const double c0 = cpu_seconds();
        const auto t0 = std::chrono::steady_clock::now();
        pass();
        best = std::min(
            best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        best_cpu = std::min(best_cpu, cpu_seconds() - c0);
      }
    });
    const double audio_seconds = static_cast<double>(n) * samples / sample_rate;
    result["threads"][tok] = {{"best_s", best},
                              {"audio_s_per_s", audio_seconds / best},
                              {"cpu_s", best_cpu},
                              {"audio_s_per_cpu_s", audio_seconds / best_cpu}};
  }
  if (!dump.empty()) write_npy(dump, outs[0].tensor);
  std::printf("%s\n", result.dump().c_str());
  return 0;
}
