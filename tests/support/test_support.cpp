#include "tests/support/test_support.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <sys/wait.h>

#include "embedflow/npy.h"

namespace fs = std::filesystem;

namespace embedflow::test {

std::string source_path(const std::string& rel) {
  return std::string(EMBEDFLOW_SOURCE_DIR) + "/" + rel;
}
std::string binary_path(const std::string& rel) {
  return std::string(EMBEDFLOW_BINARY_DIR) + "/" + rel;
}

TempDir::TempDir(const std::string& tag) {
  std::random_device rd;
  fs::path base = fs::path(EMBEDFLOW_BINARY_DIR) / "test-tmp";
  fs::create_directories(base);
  for (;;) {
    fs::path p = base / (tag + "-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p.string();
      break;
    }
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& content) {
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ofstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot write " + path);
  f << content;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  return lines;
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CommandResult run_cli(const std::string& args) {
  return run_command(std::string("'") + EMBEDFLOW_CLI + "' " + args);
}

Tensor load_npy(const std::string& path) {
  return read_npy(path);
}

double cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

}  // namespace embedflow::test
