// Faults through the CLI: runs killed (SIGKILL) or stopped (SIGINT) at random points, plain,
// resumable and sharded, and runs that meet in one output folder. Each test compares with an
// uninterrupted run of the same inputs and with what the test itself knows about its inputs (which
// items are bad), and checks that nothing outside the output folder changed.
//
// The kill points come from a seeded generator; the seed is printed, and EMBEDFLOW_FAULT_SEED=N
// replays a failure.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "embedflow/item.h"
#include "tests/support/test_support.h"

using namespace embedflow::test;
using embedflow::Json;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

uint32_t fault_seed(const char* test) {
  uint32_t seed = std::random_device{}();
  if (const char* env = std::getenv("EMBEDFLOW_FAULT_SEED")) seed = std::strtoul(env, nullptr, 10);
  // On stderr as well as in the failure report: a crash or a timeout prints no INFO.
  std::cerr << test << ": EMBEDFLOW_FAULT_SEED=" << seed << "\n";
  return seed;
}

int ms_since(Clock::time_point t0) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// A mono 16-bit PCM WAV of `samples` frames at 8 kHz, a tone that differs per clip.
void write_wav(const std::string& path, int clip, int samples) {
  std::string data;
  for (int k = 0; k < samples; ++k) {
    auto v = static_cast<int16_t>(std::lround(3000.0 * std::sin(0.01 * (clip + 1) * k)));
    data.push_back(static_cast<char>(v & 0xff));
    data.push_back(static_cast<char>((v >> 8) & 0xff));
  }
  auto u32 = [](uint32_t v) {
    return std::string{static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 24)};
  };
  auto u16 = [](uint16_t v) {
    return std::string{static_cast<char>(v), static_cast<char>(v >> 8)};
  };
  std::string wav = "RIFF" + u32(36 + static_cast<uint32_t>(data.size())) + "WAVEfmt " + u32(16) +
                    u16(1) + u16(1) + u32(8000) + u32(16000) + u16(2) + u16(16) + "data" +
                    u32(static_cast<uint32_t>(data.size())) + data;
  write_file(path, wav);
}

// `n` clips in `dir`, clip-0000.wav …; one in `bad_every` (6, 19, … for 13) is not audio and fails
// to load. Returns the ids the run must write and the ids it must report as failed, in source
// order.
struct Clips {
  std::vector<std::string> good, bad;
};
Clips make_clips(const std::string& dir, int n, int bad_every = 13) {
  Clips c;
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "clip-%04d.wav", i);
    if (i % bad_every == bad_every / 2) {
      write_file(dir + "/" + name, "this is not a recording\n");
      c.bad.push_back(name);
    } else {
      write_wav(dir + "/" + name, i, 200);
      c.good.push_back(name);
    }
  }
  return c;
}

// Torch-free and slow enough for kills to land mid-run: files → load (serial, right after the
// source, so a plain run logs its failures in source order) → a random pause → a stacked .npy
// with its sidecar, and a table of what was loaded.
std::string audio_pipeline(const std::string& in, const std::string& out, int max_ms = 6) {
  return "pipeline: fault_test\nthreads: 2\nerrors: " + out +
         "/errors.jsonl\n"
         "stages:\n"
         "  - id: clips\n    type: source.files\n    params: { dir: " +
         in +
         " }\n"
         "  - id: load\n    type: audio.load\n    concurrency: 1\n"
         "  - id: slow\n    type: debug.delay\n    concurrency: 4\n"
         "    params: { min_ms: 0, max_ms: " +
         std::to_string(max_ms) +
         " }\n"
         "  - id: samples\n    type: write.npy\n    params: { path: " +
         out +
         "/samples.npy }\n"
         "  - id: table\n    type: write.jsonl\n    input: load\n    params: { path: " +
         out + "/table.jsonl }\n";
}
const std::vector<std::string> kAudioOutputs = {"samples.npy", "samples.jsonl", "table.jsonl",
                                                "errors.jsonl"};

// Every entry under `root` but `skip` (a path relative to it) with its size and modification
// time: two snapshots differ when anything was created, removed or written there.
std::map<std::string, std::string> snapshot(const std::string& root, const std::string& skip) {
  std::map<std::string, std::string> entries;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string rel = fs::relative(it->path(), root).string();
    if (rel == skip) {
      it.disable_recursion_pending();
      continue;
    }
    struct stat st {};
    REQUIRE(::lstat(it->path().c_str(), &st) == 0);
    // A folder's own times change when an entry is added or removed: the entries say that.
    entries[rel] = S_ISDIR(st.st_mode)
                       ? "dir"
                       : std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
                             std::to_string(st.st_mtim.tv_sec) + "." +
                             std::to_string(st.st_mtim.tv_nsec);
  }
  return entries;
}

// Files under `dir` whose name contains `part` (".tmp-", ".partial.").
std::vector<std::string> files_containing(const std::string& dir, const std::string& part) {
  std::vector<std::string> found;
  if (!fs::exists(dir)) return found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(part) != std::string::npos)
      found.push_back(e.path().string());
  return found;
}

std::string file_or_absent(const std::string& path) {
  return fs::exists(path) ? read_file(path) : std::string("<absent>");
}

// The "id" of each line of a JSON Lines file.
std::vector<std::string> ids_of(const std::string& path) {
  std::vector<std::string> ids;
  for (const auto& line : read_lines(path)) ids.push_back(Json::parse(line).at("id"));
  return ids;
}

// Byte for byte, every output of `names` is in `dir` exactly as in the reference `ref` (present
// in both with the same bytes, or absent from both).
void require_same_outputs(const std::string& ref, const std::string& dir,
                          const std::vector<std::string>& names) {
  for (const auto& name : names) CHECK(file_difference(ref + "/" + name, dir + "/" + name) == "");
}

// What the test knows independently of any run: each good clip written once, in order, and each
// bad one reported once, by the stage that reads it.
void require_items_accounted(const std::string& dir, const Clips& clips) {
  CHECK(ids_of(dir + "/samples.jsonl") == clips.good);
  CHECK(ids_of(dir + "/table.jsonl") == clips.good);
  CHECK(load_npy(dir + "/samples.npy").dim(0) == static_cast<int64_t>(clips.good.size()));
  CHECK(ids_of(dir + "/errors.jsonl") == clips.bad);
  for (const auto& line : read_lines(dir + "/errors.jsonl"))
    CHECK(Json::parse(line).at("stage") == "load");
}

// The reference: one uninterrupted plain run into `out` (relative to `scratch`, the working
// folder of every run). Returns its wall time in ms.
int reference_run(const std::string& scratch, const std::string& yaml) {
  auto t0 = Clock::now();
  REQUIRE(wait_exit(spawn_cli({"run", yaml, "--progress", "off"}, scratch)) == 0);
  return ms_since(t0);
}

}  // namespace

TEST_CASE("SIGKILL at random points of a plain run: outputs whole or absent, a rerun completes") {
  TempDir dir("fault-plain");
  const Clips clips = make_clips(dir.file("in"), 500);
  write_file(dir.file("clean.yaml"), audio_pipeline(dir.file("in"), dir.file("clean")));
  write_file(dir.file("job.yaml"), audio_pipeline(dir.file("in"), dir.file("job")));
  const int clean_ms = reference_run(dir.path(), dir.file("clean.yaml"));
  require_items_accounted(dir.file("clean"), clips);

  // A complete earlier output that differs from the full one: the first 60 clips.
  REQUIRE(wait_exit(spawn_cli(
              {"run", dir.file("job.yaml"), "--progress", "off", "--set", "clips.limit=60"},
              dir.path())) == 0);
  std::map<std::string, std::string> previous;
  for (const auto& name : kAudioOutputs) previous[name] = read_file(dir.file("job/" + name));
  REQUIRE(previous["samples.npy"] != read_file(dir.file("clean/samples.npy")));

  const auto outside = snapshot(dir.path(), "job");
  const uint32_t seed = fault_seed("plain run");
  INFO("EMBEDFLOW_FAULT_SEED=" << seed << " (clean run " << clean_ms << " ms)");
  std::mt19937 rng(seed);
  for (int attempt = 0; attempt < 6; ++attempt) {
    const int delay = static_cast<int>(rng() % static_cast<uint32_t>(clean_ms * 11 / 10));
    pid_t pid = spawn_cli({"run", dir.file("job.yaml"), "--progress", "off"}, dir.path());
    sleep_ms(delay);
    kill(pid, SIGKILL);
    const int code = wait_exit(pid);
    INFO("attempt " << attempt << ": killed after " << delay << " ms, exit " << code);
    CHECK((code == 128 + SIGKILL || code == 0));
    // Under a final name stands the earlier complete output or the new complete one.
    for (const auto& name : {"samples.npy", "samples.jsonl", "table.jsonl"}) {
      INFO(name);
      const std::string now = file_or_absent(dir.file("job/") + name);
      const bool earlier = now == previous[name];
      const bool complete = now == read_file(dir.file("clean/") + name);
      CHECK((earlier || complete));
      previous[name] = now;
    }
    // errors.jsonl is written as items fail (a crash keeps what was logged): whole records, the
    // first ones of the complete run's.
    const auto clean_errors = read_lines(dir.file("clean/errors.jsonl"));
    const auto errors = read_lines(dir.file("job/errors.jsonl"));
    CHECK(errors.size() <= clean_errors.size());
    for (size_t i = 0; i < errors.size() && i < clean_errors.size(); ++i)
      CHECK(errors[i] == clean_errors[i]);
    CHECK(files_containing(dir.file("job"), ".partial.").empty());
    CHECK(snapshot(dir.path(), "job") == outside);
  }
  REQUIRE(wait_exit(spawn_cli({"run", dir.file("job.yaml"), "--progress", "off"}, dir.path())) ==
          0);
  require_same_outputs(dir.file("clean"), dir.file("job"), kAudioOutputs);
  require_items_accounted(dir.file("job"), clips);
  // The killed runs' temporaries were removed by the writers of the next run.
  CHECK(files_containing(dir.file("job"), ".tmp-").empty());
  CHECK(snapshot(dir.path(), "job") == outside);
}

TEST_CASE("SIGKILL at random points of a resumable run, then --resume: the uninterrupted bytes") {
  TempDir dir("fault-resume");
  const Clips clips = make_clips(dir.file("in"), 500);
  write_file(dir.file("clean.yaml"), audio_pipeline(dir.file("in"), dir.file("clean")));
  write_file(dir.file("job.yaml"), audio_pipeline(dir.file("in"), dir.file("job")));
  const int clean_ms = reference_run(dir.path(), dir.file("clean.yaml"));
  require_items_accounted(dir.file("clean"), clips);

  const auto outside = snapshot(dir.path(), "job");
  const uint32_t seed = fault_seed("resumable run");
  INFO("EMBEDFLOW_FAULT_SEED=" << seed << " (clean run " << clean_ms << " ms)");
  std::mt19937 rng(seed);
  int killed = 0;
  for (int attempt = 0; attempt < 6; ++attempt) {
    // Small parts, so kills land before, between and after part commits and during assembly.
    pid_t pid = spawn_cli({"run", dir.file("job.yaml"), "--progress", "off", "--part-size", "40",
                           attempt == 0 ? "--resumable" : "--resume"},
                          dir.path());
    wait_for_file(dir.file("job/.embedflow/journal.jsonl"));
    // Within the first half of a clean run: a resumed run has less left to do.
    const int delay = static_cast<int>(rng() % static_cast<uint32_t>(std::max(20, clean_ms / 2)));
    sleep_ms(delay);
    kill(pid, SIGKILL);
    const int code = wait_exit(pid);
    if (code == 128 + SIGKILL) ++killed;
    INFO("attempt " << attempt << ": killed " << delay << " ms after the journal, exit " << code);
    CHECK((code == 128 + SIGKILL || code == 0));
    // The final files appear only when the job completes, each whole: the complete run's bytes.
    for (const auto& name : kAudioOutputs) {
      INFO(name);
      if (fs::exists(dir.file("job/" + name)))
        CHECK(file_difference(dir.file("job/" + name), dir.file("clean/" + name)) == "");
    }
    CHECK(files_containing(dir.file("job"), ".partial.").empty());
    CHECK(snapshot(dir.path(), "job") == outside);
  }
  CHECK(killed >= 3);
  REQUIRE(wait_exit(spawn_cli({"run", dir.file("job.yaml"), "--progress", "off", "--resume"},
                              dir.path())) == 0);
  // Errors included: each failed item once, as the uninterrupted run reports it.
  require_same_outputs(dir.file("clean"), dir.file("job"), kAudioOutputs);
  require_items_accounted(dir.file("job"), clips);
  CHECK_FALSE(fs::exists(dir.file("job/.embedflow")));
  CHECK(files_containing(dir.file("job"), ".tmp-").empty());
  CHECK(snapshot(dir.path(), "job") == outside);
}

TEST_CASE("a shard killed at random points and resumed: the merge equals the one-process run") {
  TempDir dir("fault-shards");
  // Many bad clips: a killed shard has logged failures in the parts it had not journaled yet.
  const Clips clips = make_clips(dir.file("in"), 450, 4);
  write_file(dir.file("clean.yaml"), audio_pipeline(dir.file("in"), dir.file("clean"), 10));
  write_file(dir.file("job.yaml"), audio_pipeline(dir.file("in"), dir.file("job"), 10));
  const int clean_ms = reference_run(dir.path(), dir.file("clean.yaml"));

  const auto outside = snapshot(dir.path(), "job");
  const uint32_t seed = fault_seed("sharded run");
  INFO("EMBEDFLOW_FAULT_SEED=" << seed << " (clean run " << clean_ms << " ms)");
  std::mt19937 rng(seed);
  auto shard = [&](int i, bool resume) {
    std::vector<std::string> args = {"run",     dir.file("job.yaml"),    "--progress",
                                     "off",     "--part-size",           "20",
                                     "--shard", std::to_string(i) + "/3"};
    if (resume) args.push_back("--resume");
    return spawn_cli(args, dir.path());
  };
  // How long a shard runs once its journal exists: the window the kills of shard 1 aim at. The
  // shorter of two shards (the first one also warms the caches), and kills in its first half:
  // a resumed shard has less left to do, and one that finishes before the kill is not killed.
  auto run_shard = [&](int i) {
    pid_t pid = shard(i, false);
    REQUIRE(wait_for_file(dir.file("job/shard-" + std::to_string(i) + "-of-3/journal.jsonl")));
    const auto journal_seen = Clock::now();
    REQUIRE(wait_exit(pid) == 0);
    return ms_since(journal_seen);
  };
  const int first_ms = run_shard(0), last_ms = run_shard(2);
  const int window_ms = std::max(20, std::min(first_ms, last_ms) / 2);
  INFO("shards ran " << first_ms << " and " << last_ms
                     << " ms after their journal appeared; kills within " << window_ms << " ms");
  // Shard 1 dies at random points and is rerun with --resume.
  int killed = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    pid_t pid = shard(1, attempt > 0);
    wait_for_file(dir.file("job/shard-1-of-3/journal.jsonl"));
    const int delay = static_cast<int>(rng() % static_cast<uint32_t>(window_ms));
    sleep_ms(delay);
    kill(pid, SIGKILL);
    const int code = wait_exit(pid);
    INFO("attempt " << attempt << ": killed " << delay << " ms after the journal, exit " << code);
    CHECK((code == 128 + SIGKILL || code == 0));
    if (code == 128 + SIGKILL) ++killed;
    // Shards write only into their own folders; the final files are the merge's.
    for (const auto& name : kAudioOutputs) CHECK_FALSE(fs::exists(dir.file("job/" + name)));
    CHECK(snapshot(dir.path(), "job") == outside);
  }
  CHECK(killed >= 2);
  REQUIRE(wait_exit(shard(1, true)) == 0);
  auto merged = run_cli("merge " + dir.file("job"));
  INFO(merged.output);
  REQUIRE(merged.exit_code == 0);
  require_same_outputs(dir.file("clean"), dir.file("job"), kAudioOutputs);
  require_items_accounted(dir.file("job"), clips);
  CHECK(files_containing(dir.file("job"), ".tmp-").empty());
  CHECK(snapshot(dir.path(), "job") == outside);
}

TEST_CASE("a second run into a busy output folder is refused, naming the run that holds it") {
  TempDir dir("fault-busy");
  const Clips clips = make_clips(dir.file("in"), 240);
  write_file(dir.file("clean.yaml"), audio_pipeline(dir.file("in"), dir.file("clean")));
  write_file(dir.file("job.yaml"), audio_pipeline(dir.file("in"), dir.file("job"), 20));
  reference_run(dir.path(), dir.file("clean.yaml"));

  pid_t first = spawn_cli({"run", dir.file("job.yaml"), "--progress", "off"}, dir.path());
  // Its writers are open (their temporaries exist) once it holds the folder. Then it is frozen
  // (SIGSTOP keeps its lock), so that it is still running however long the others take.
  bool writing = false;
  for (int i = 0; i < 1500 && !writing; ++i) {
    writing = !files_containing(dir.file("job"), ".tmp-" + std::to_string(first)).empty();
    if (!writing) sleep_ms(20);
  }
  REQUIRE(writing);
  REQUIRE(kill(first, SIGSTOP) == 0);
  int status = 0;
  REQUIRE(waitpid(first, &status, WNOHANG) == 0);  // it had not finished
  // A plain run, a resumable one, and a forced restart, which would remove a journal.
  for (const char* mode : {"", " --resumable", " --resume --force"}) {
    auto second = run_cli("run " + dir.file("job.yaml") + " --progress off" + mode);
    INFO("second run" << mode << ": " << second.output);
    CHECK(second.exit_code == 1);
    CHECK_THAT(second.output, Catch::Contains("another run is writing into '" + dir.file("job")));
    CHECK_THAT(second.output, Catch::Contains("(pid " + std::to_string(first) + ": " +
                                              std::string(EMBEDFLOW_CLI) + " run"));
    // Refused before anything was created or removed: no journal; the first run's error log,
    // which an ordinary start would have replaced, is compared whole below.
    CHECK_FALSE(fs::exists(dir.file("job/.embedflow")));
  }
  REQUIRE(kill(first, SIGCONT) == 0);
  CHECK(wait_exit(first) == 0);
  require_same_outputs(dir.file("clean"), dir.file("job"), kAudioOutputs);
  require_items_accounted(dir.file("job"), clips);
}

TEST_CASE("two runs of the same inputs into different folders at once both complete, equal") {
  TempDir dir("fault-parallel");
  const Clips clips = make_clips(dir.file("in"), 300);
  write_file(dir.file("a.yaml"), audio_pipeline(dir.file("in"), dir.file("a")));
  write_file(dir.file("b.yaml"), audio_pipeline(dir.file("in"), dir.file("b")));
  const auto inputs = snapshot(dir.file("in"), "");
  pid_t a = spawn_cli({"run", dir.file("a.yaml"), "--progress", "off"}, dir.path());
  pid_t b = spawn_cli({"run", dir.file("b.yaml"), "--progress", "off"}, dir.path());
  CHECK(wait_exit(a) == 0);
  CHECK(wait_exit(b) == 0);
  require_same_outputs(dir.file("a"), dir.file("b"), kAudioOutputs);
  require_items_accounted(dir.file("a"), clips);
  CHECK(snapshot(dir.file("in"), "") == inputs);
}
