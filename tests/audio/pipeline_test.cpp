// End to end through the engine: `embedflow run` on a folder with bad files, and the bundled
// configs/audio_spectrograms.yaml.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include <sndfile.h>

#include "embedflow/item.h"
#include "embedflow/npy.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {}  // namespace

TEST_CASE("embedflow run: bad audio files become error records, the others are processed") {
  TempDir dir("pipe");
  const std::string in = dir.file("in");
  fs::create_directories(in);
  fs::copy_file(source_path("examples/media/audio/Front_Center.wav"), in + "/a_good.wav");
  fs::copy_file(source_path("examples/media/audio/bell.oga"), in + "/z_good.oga");
  write_file(in + "/empty.wav", "");
  write_file(in + "/notes.wav", "plain text\n");
  {
    // Header-only WAV.
    SF_INFO info{};
    info.samplerate = 16000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    sf_close(sf_open((in + "/header.wav").c_str(), SFM_WRITE, &info));
  }
  const std::string yaml = dir.file("p.yaml");
  write_file(yaml,
             "pipeline: bad_files\n"
             "errors: " +
                 dir.file("out/errors.jsonl") +
                 "\n"
                 "stages:\n"
                 "  - id: files\n    type: source.files\n    params: {dir: " +
                 in +
                 "}\n"
                 "  - id: load\n    type: audio.load\n    input: files\n"
                 "    params: {sample_rate: 16000}\n"
                 "  - id: mel\n    type: audio.spectrogram\n    input: load\n"
                 "    params: {n_fft: 400, hop_length: 160, mel: {n_mels: 64}, db: {}}\n"
                 "  - id: npy\n    type: write.npy\n    input: mel\n"
                 "    params: {per_item: true, dir: " +
                 dir.file("out/npy") + "}\n");
  const CommandResult r = run_cli("run '" + yaml + "' --progress off");
  INFO(r.output);
  // The run completes; failed items are reported, not fatal.
  const std::vector<Json> errors = read_jsonl(dir.file("out/errors.jsonl"));
  std::set<std::string> failed;
  for (const Json& e : errors) {
    failed.insert(e["id"].get<std::string>());
    CHECK(e["stage"] == "load");
    CHECK(e["error"].get<std::string>().find(e["source"].get<std::string>()) != std::string::npos);
  }
  CHECK(failed == std::set<std::string>{"empty.wav", "notes.wav", "header.wav"});
  const Tensor a = read_npy(dir.file("out/npy/a_good.wav.npy"));
  const Tensor z = read_npy(dir.file("out/npy/z_good.oga.npy"));
  CHECK(a.dim(0) == 64);
  CHECK(z.dim(0) == 64);
  // 68545 samples at 48 kHz → 22848 at 16 kHz → 1 + 22848 / 160 frames.
  CHECK(a.dim(1) == 1 + 22848 / 160);
}

TEST_CASE("configs/audio_spectrograms.yaml runs on the bundled example audio") {
  TempDir dir("cfg");
  const CommandResult r =
      run_command("OUT='" + dir.path() + "' '" + EMBEDFLOW_CLI + "' run '" +
                  source_path("configs/audio_spectrograms.yaml") + "' --progress off");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  for (const std::string name : {"Front_Center.wav", "bell.oga"}) {
    INFO(name);
    CHECK(fs::file_size(dir.file("png/" + name + ".png")) > 1000);
    const Tensor t = read_npy(dir.file("npy/" + name + ".npy"));
    REQUIRE(t.ndim() == 2);
    CHECK(t.dim(0) == 128);
    // top_db: 80 bounds the dynamic range.
    const float* v = t.data<float>();
    const auto [lo, hi] = std::minmax_element(v, v + t.numel());
    CHECK(*hi - *lo <= 80.0f + 1e-3f);
    CHECK(*hi - *lo > 40.0f);
  }
  CHECK_FALSE(fs::exists(dir.file("errors.jsonl")));
}
