// A real full disk (ENOSPC, not RLIMIT_FSIZE): a small tmpfs mounted for the test, filled up,
// then a run whose writer lands on it. Needs root and mount(2): elsewhere every test exits with
// kSkippedExitCode, which CMake's SKIP_RETURN_CODE makes ctest report as skipped, never as passed.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "tests/support/test_support.h"

using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

// Every file under `dir` (recursively) except the filler, with its bytes.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "filler")
      files[e.path().string()] = read_file(e.path().string());
  return files;
}

std::string lines_of_text(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "sentence number " + std::to_string(i) + " of the corpus\n";
  return s;
}

// Runs `yaml` once on the empty tmpfs (a complete output), fills the tmpfs, runs it again:
// that run must fail saying the disk is full and naming `final_file`, and leave every file
// on the tmpfs as the first run left it (no cut-off output under a final name, no temporary).
void check_disk_full(SmallTmpfs& disk, const std::string& mount, const std::string& yaml,
                     const std::string& final_file) {
  auto first = run_cli("run " + yaml + " --progress off");
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  REQUIRE(fs::exists(final_file));
  const auto before = snapshot(mount);

  disk.fill();
  auto full = run_cli("run " + yaml + " --progress off");
  INFO(full.output);
  CHECK(full.exit_code == 1);
  CHECK_THAT(full.output, Catch::Contains("No space left on device") &&
                              Catch::Contains(final_file) && !Catch::Contains("cannot reach"));
  // The complete output of the first run is what is there, byte for byte; nothing was added.
  CHECK(snapshot(mount) == before);
}

}  // namespace

TEST_CASE("disk full: write.jsonl keeps the previous output and says the disk is full",
          "[io][disk_full]") {
  TempDir dir("enospc");
  SmallTmpfs disk(dir.file("mnt"), 1024);
  write_file(dir.file("in.txt"), lines_of_text(2000));  // ~340 KB of JSON Lines
  write_file(dir.file("p.yaml"),
             "pipeline: full\n"
             "stages:\n"
             "  - {id: texts, type: source.text, params: {file: " +
                 dir.file("in.txt") +
                 "}}\n"
                 "  - {id: out, type: write.jsonl, params: {path: " +
                 dir.file("mnt/out/s.jsonl") + "}}\n");
  check_disk_full(disk, dir.file("mnt"), dir.file("p.yaml"), dir.file("mnt/out/s.jsonl"));
}

TEST_CASE("disk full: write.npy keeps the previous output and says the disk is full",
          "[io][disk_full]") {
  TempDir dir("enospc");
  SmallTmpfs disk(dir.file("mnt"), 1024);
  // numpy writes the input rows: 200 x 128 float32, 100 KB.
  write_file(dir.file("mk.py"), "import numpy as np\nnp.save('" + dir.file("in.npy") +
                                    "', np.arange(200 * 128, dtype=np.float32).reshape(200, "
                                    "128))\n");
  REQUIRE(run_command(std::string("'") + EMBEDFLOW_REFERENCE_PYTHON + "' " + dir.file("mk.py"))
              .exit_code == 0);
  write_file(dir.file("p.yaml"),
             "pipeline: full\n"
             "stages:\n"
             "  - {id: rows, type: source.npy, params: {path: " +
                 dir.file("in.npy") +
                 ", sidecar: false}}\n"
                 "  - {id: out, type: write.npy, params: {path: " +
                 dir.file("mnt/out/e.npy") + "}}\n");
  check_disk_full(disk, dir.file("mnt"), dir.file("p.yaml"), dir.file("mnt/out/e.npy"));
}

TEST_CASE("disk full: write.png keeps the previous output and says the disk is full",
          "[io][disk_full]") {
  TempDir dir("enospc");
  SmallTmpfs disk(dir.file("mnt"), 1024);
  write_file(dir.file("p.yaml"),
             "pipeline: full\n"
             "errors: " +
                 dir.file("errors.jsonl") +
                 "\n"
                 "stages:\n"
                 "  - {id: audio, type: source.files, params: {glob: '" +
                 source_path("examples/media/audio") +
                 "/Front_*.wav'}}\n"
                 "  - {id: load, type: audio.load, params: {sample_rate: 16000}}\n"
                 "  - {id: mel, type: audio.spectrogram, params: {n_fft: 400, hop_length: 160, "
                 "mel: {n_mels: 64}}}\n"
                 "  - {id: png, type: write.png, params: {dir: " +
                 dir.file("mnt/png") + "}}\n");
  check_disk_full(disk, dir.file("mnt"), dir.file("p.yaml"), dir.file("mnt/png/"));
}

TEST_CASE("disk full: errors.jsonl keeps the previous record and says the disk is full",
          "[io][disk_full]") {
  TempDir dir("enospc");
  SmallTmpfs disk(dir.file("mnt"), 1024);
  // Every other line is not UTF-8: ~1000 error records, ~250 KB of errors.jsonl.
  std::string text;
  for (int i = 0; i < 2000; ++i)
    text += i % 2 ? "caf\xE9 number " + std::to_string(i) + "\n" : "good line\n";
  write_file(dir.file("in.txt"), text);
  write_file(dir.file("p.yaml"),
             "pipeline: full\n"
             "errors: " +
                 dir.file("mnt/errors.jsonl") +
                 "\n"
                 "stages:\n"
                 "  - {id: texts, type: source.text, params: {file: " +
                 dir.file("in.txt") +
                 "}}\n"
                 "  - {id: out, type: write.jsonl, params: {path: " +
                 dir.file("out/s.jsonl") + "}}\n");
  check_disk_full(disk, dir.file("mnt"), dir.file("p.yaml"), dir.file("mnt/errors.jsonl"));
}
