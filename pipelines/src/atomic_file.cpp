#include "embedflow/atomic_file.h"

#include "embedflow/errors.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace embedflow {

namespace {

// A process killed while writing (kill -9, power loss) leaves its `<path>.tmp-<pid>` behind. The
// next writer of the same path removes those whose process is gone, so they do not pile up.
void remove_stale_temporaries(const fs::path& target) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp-";
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still alive
    std::error_code rm_ec;
    fs::remove(it->path(), rm_ec);
  }
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  fs::path p(path_);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  remove_stale_temporaries(p);
  tmp_ = path_ + ".tmp-" + std::to_string(::getpid());
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_)
    throw RunFailure("cannot create " + tmp_ + ": " +
                     std::error_code(errno, std::generic_category()).message());
}

AtomicFile::~AtomicFile() {
  discard();
}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : path_(std::move(o.path_)),
      tmp_(std::move(o.tmp_)),
      file_(o.file_),
      failed_(o.failed_),
      write_error_(std::move(o.write_error_)) {
  o.file_ = nullptr;
}

AtomicFile& AtomicFile::operator=(AtomicFile&& o) noexcept {
  if (this != &o) {
    discard();
    path_ = std::move(o.path_);
    tmp_ = std::move(o.tmp_);
    file_ = o.file_;
    failed_ = o.failed_;
    write_error_ = std::move(o.write_error_);
    o.file_ = nullptr;
  }
  return *this;
}

void AtomicFile::check_write(bool ok) {
  if (ok) return;
  const std::string reason = std::error_code(errno, std::generic_category()).message();
  if (!failed_) write_error_ = reason;
  failed_ = true;
  // Named by the file the user asked for: the temporary is an implementation detail.
  throw RunFailure("cannot write " + path_ + ": " + reason + "; nothing was replaced");
}

void AtomicFile::write(const void* data, size_t n) {
  if (!file_) throw std::logic_error("AtomicFile: write after commit");
  if (n) check_write(std::fwrite(data, 1, n, file_) == n);
}

void AtomicFile::pwrite(const void* data, size_t n, long offset) {
  long here = tell();
  check_write(std::fseek(file_, offset, SEEK_SET) == 0);
  write(data, n);
  check_write(std::fseek(file_, here, SEEK_SET) == 0);
}

long AtomicFile::tell() const {
  return file_ ? std::ftell(file_) : 0;
}

std::string AtomicFile::commit(bool complete) {
  if (!file_) throw std::logic_error("AtomicFile: commit twice");
  // stdio drops its buffer on a failed write, so fflush alone would not notice an earlier one.
  bool ok = !failed_ && std::fflush(file_) == 0 && !std::ferror(file_);
  int err = ok ? 0 : errno;
  if (std::fclose(file_) != 0 && ok) {
    ok = false;
    err = errno;
  }
  file_ = nullptr;
  if (!ok) {
    std::remove(tmp_.c_str());
    throw RunFailure(
        "cannot write " + path_ + ": " +
        (failed_ ? write_error_ : std::error_code(err, std::generic_category()).message()) +
        "; nothing was replaced");
  }
  std::error_code exists_ec;
  const std::string target =
      !complete && fs::exists(path_, exists_ec) ? partial_path(path_) : path_;
  try {
    commit_file(tmp_, target);
  } catch (const RunFailure&) {
    std::remove(tmp_.c_str());
    throw;
  }
  return target;
}

std::string partial_path(const std::string& path) {
  fs::path p(path);
  return (p.parent_path() / (p.stem().string() + ".partial" + p.extension().string())).string();
}

void AtomicFile::discard() {
  if (file_) {
    std::fclose(file_);
    file_ = nullptr;
    std::remove(tmp_.c_str());
  }
}

void commit_file(const std::string& tmp, const std::string& path) {
  // The data is the inode's: a descriptor of our own syncs what any other one wrote.
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::fsync(fd) == 0;
  int err = errno;
  if (fd >= 0) ::close(fd);
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok)
    throw RunFailure("cannot write " + path + ": " +
                     std::error_code(err, std::generic_category()).message());
}

}  // namespace embedflow
