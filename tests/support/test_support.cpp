#include "tests/support/test_support.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

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

std::string file_difference(const std::string& a, const std::string& b) {
  const bool has_a = fs::exists(a), has_b = fs::exists(b);
  if (!has_a || !has_b) {
    if (has_a == has_b) return "";
    return (has_a ? b : a) + " is missing";
  }
  const std::string x = read_file(a), y = read_file(b);
  if (x == y) return "";
  size_t at = 0;
  while (at < x.size() && at < y.size() && x[at] == y[at]) ++at;
  return a + " (" + std::to_string(x.size()) + " bytes) and " + b + " (" +
         std::to_string(y.size()) + " bytes) differ from byte " + std::to_string(at);
}

pid_t spawn_cli(const std::vector<std::string>& args, const std::string& cwd,
                const std::string& log) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(EMBEDFLOW_CLI));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: the test process has threads.
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    execv(EMBEDFLOW_CLI, argv.data());
    _exit(127);
  }
  if (pid < 0) throw std::runtime_error("fork failed");
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool wait_for_file(const std::string& path, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fs::exists(path);
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

RowCosines row_cosines(const Tensor& a, const Tensor& b) {
  const int64_t d = b.shape().back(), rows = b.numel() / d;
  double sum = 0, worst = 1;
  for (int64_t r = 0; r < rows; ++r) {
    const double c = cosine(a.data<float>() + r * d, b.data<float>() + r * d, d);
    sum += c;
    worst = std::min(worst, c);
  }
  return {sum / static_cast<double>(rows), worst};
}

Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& items) {
  std::vector<int64_t> shape = t.shape();
  shape[0] = static_cast<int64_t>(items.size());
  Tensor out(DType::F32, shape);
  const int64_t row = t.dim(0) ? t.numel() / t.dim(0) : 0;
  for (size_t i = 0; i < items.size(); ++i)
    std::copy_n(t.data<float>() + items[i] * row, row,
                out.data<float>() + static_cast<int64_t>(i) * row);
  return out;
}

std::string batch_variance(int64_t n, const BatchEncode& encode) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  const Tensor reference = encode(all, 2);
  if (reference.ndim() < 1 || reference.dim(0) != n)
    throw std::runtime_error("batch_variance: the encoder returned " + reference.shape_str() +
                             " for " + std::to_string(n) + " items");
  const size_t row_bytes = reference.nbytes() / static_cast<size_t>(n);
  const auto* ref = static_cast<const uint8_t*>(reference.raw());
  std::string report;
  // Items whose rows differ in `got` (one per item of `items`) from the all-at-once batch.
  auto compare = [&](const std::string& how, const std::vector<int64_t>& items, const Tensor& got) {
    if (got.nbytes() != row_bytes * items.size())
      throw std::runtime_error("batch_variance: rows of another size: " + got.shape_str());
    const auto* g = static_cast<const uint8_t*>(got.raw());
    std::string differ;
    for (size_t i = 0; i < items.size(); ++i)
      if (std::memcmp(g + i * row_bytes, ref + static_cast<size_t>(items[i]) * row_bytes,
                      row_bytes) != 0)
        differ += (differ.empty() ? "" : ",") + std::to_string(items[i]);
    if (!differ.empty()) report += how + ": items " + differ + " differ; ";
  };
  for (int64_t i = 0; i < n; ++i) compare("alone, 1 thread", {i}, encode({i}, 1));
  for (int64_t i = 0; i < std::min<int64_t>(n, 3); ++i)
    compare("alone, 2 threads", {i}, encode({i}, 2));
  std::vector<int64_t> shuffled = all;
  std::mt19937 rng(16);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  compare("shuffled, 2 threads", shuffled, encode(shuffled, 2));
  const std::vector<int64_t> half(all.begin(), all.begin() + (n + 1) / 2);
  compare("first half, 1 thread", half, encode(half, 1));
  return report;
}

std::vector<Json> read_jsonl(const std::string& path) {
  std::vector<Json> out;
  for (const auto& line : read_lines(path))
    if (!line.empty()) out.push_back(Json::parse(line));
  return out;
}

void skip_test(const std::string& why) {
  std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(kSkippedExitCode);
}

SmallTmpfs::SmallTmpfs(const std::string& path, int size_kb) : path_(path) {
  if (::geteuid() != 0) skip_test("mounting a tmpfs needs root");
  fs::create_directories(path_);
  const std::string options = "size=" + std::to_string(size_kb) + "k";
  if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) != 0)
    skip_test("cannot mount a tmpfs at " + path_ + ": " + std::strerror(errno));
}

SmallTmpfs::~SmallTmpfs() {
  ::umount2(path_.c_str(), MNT_DETACH);
}

void SmallTmpfs::add_filler(size_t bytes) {
  const int fd = ::open((path_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  REQUIRE(fd >= 0);
  const std::string block(4096, 'x');
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(block.size(), bytes - done);
    const ssize_t w = ::write(fd, block.data(), n);
    REQUIRE(w == static_cast<ssize_t>(n));
    done += n;
  }
  ::close(fd);
}

void SmallTmpfs::fill() {
  const int fd = ::open((path_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  REQUIRE(fd >= 0);
  const std::string block(4096, 'x');
  int err = 0;
  for (;;) {
    if (::write(fd, block.data(), block.size()) < 0) {
      err = errno;
      break;
    }
  }
  ::close(fd);
  REQUIRE(err == ENOSPC);
}

}  // namespace embedflow::test
