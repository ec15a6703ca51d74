// Helpers shared by the test suites: fixture paths, temporary folders, running the CLI, npy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "embedflow/tensor.h"

namespace embedflow::test {

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

// Reads a .npy file written by numpy or embedflow (float32/uint8/int64, C order).
Tensor load_npy(const std::string& path);

// Cosine of two float vectors of length n, accumulated in double.
double cosine(const float* a, const float* b, int64_t n);

}  // namespace embedflow::test
