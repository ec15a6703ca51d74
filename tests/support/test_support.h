// Helpers shared by the test suites: fixture paths, temporary folders, running the CLI, npy.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "embedflow/config.h"
#include "embedflow/item.h"
#include "embedflow/stage.h"
#include "embedflow/tensor.h"

namespace embedflow::test {

// Builds a stage of type S from its schema and JSON params (validated, defaults filled), opened.
template <class S>
std::unique_ptr<S> open_stage(const StageSchema& schema, const Json& params) {
  auto stage = std::make_unique<S>(resolve_params(schema, "s", params));
  StageContext ctx;
  ctx.stage_id = "s";
  stage->open(ctx);
  return stage;
}

std::string source_path(const std::string& rel);  // <repo>/rel
std::string binary_path(const std::string& rel);  // <build>/rel

// A fresh empty directory under the build tree, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "t");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);
// The file's lines without their newlines (empty when it cannot be read).
std::vector<std::string> read_lines(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command, capturing its output.
CommandResult run_command(const std::string& command);
// Runs the embedflow CLI built with this tree: run_cli("validate x.yaml").
CommandResult run_cli(const std::string& args);

// "" when files `a` and `b` hold the same bytes, else what differs: which one is missing, the
// sizes and the first differing offset (no contents: they may be binary).
std::string file_difference(const std::string& a, const std::string& b);

// Starts the CLI with `args` in the background, its output to `log` (default /dev/null) and, when
// `cwd` is given, in that folder; returns its pid. A process, not a shell: signals reach it.
pid_t spawn_cli(const std::vector<std::string>& args, const std::string& cwd = "",
                const std::string& log = "/dev/null");
// Waits for `pid`: its exit code, or 128 + the signal that ended it.
int wait_exit(pid_t pid);
// Waits until `path` exists, up to `timeout_ms`; false if it never appeared.
bool wait_for_file(const std::string& path, int timeout_ms = 30000);

// The records of a JSON Lines file, blank lines skipped (a line that is not JSON throws).
std::vector<Json> read_jsonl(const std::string& path);

// Ends the test executable as skipped: ctest reports exit code kSkippedExitCode as such through
// the test's SKIP_RETURN_CODE property. For checks this machine cannot make (no root, no
// mount), which must never count as passed.
constexpr int kSkippedExitCode = 77;
[[noreturn]] void skip_test(const std::string& why);

// A tmpfs of `size_kb` mounted at `path` for the object's lifetime: a real file system that runs
// out of space (ENOSPC). Skips the test (skip_test) when not root or the mount is refused.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::string& path, int size_kb);
  ~SmallTmpfs();
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  // Writes `bytes` into the file `filler` at the mount point (fails the test if they don't fit).
  void add_filler(size_t bytes);
  // Writes into `filler` until the file system refuses with ENOSPC: it is then full.
  void fill();

 private:
  std::string path_;
};

// Reads a .npy file written by numpy or embedflow (float32/uint8/int64, C order).
Tensor load_npy(const std::string& path);

// Cosine of two float vectors of length n, accumulated in double.
double cosine(const float* a, const float* b, int64_t n);

// The cosines of matching rows (along the last dimension) of two same-shaped f32 tensors: their
// mean and their minimum.
struct RowCosines {
  double mean, min;
};
RowCosines row_cosines(const Tensor& a, const Tensor& b);

// Batch invariance (#16). `encode(items, threads)` embeds the given items (indices into the
// caller's n inputs) as one batch on that many threads and returns one row per item, in that
// order. Each item is embedded with all n at once (2 threads), alone (1 thread; the first three
// also on 2), in a shuffled
// batch (2 threads) and in the first half's batch (1 thread). Returns "" when every row is the
// same bytes as in the all-at-once batch, else which items differ in which run.
// Rows `items` of an f32 [N, …] tensor, in that order, as a new [items.size(), …] tensor.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& items);
using BatchEncode = std::function<Tensor(const std::vector<int64_t>& items, int threads)>;
std::string batch_variance(int64_t n, const BatchEncode& encode);

}  // namespace embedflow::test
