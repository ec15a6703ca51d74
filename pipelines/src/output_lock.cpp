#include "embedflow/output_lock.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "embedflow/errors.h"

namespace embedflow {

namespace {

// "pid 1234: embedflow run p.yaml" for the process holding an flock on the folder `fd`, from
// Linux's /proc/locks (its lines name the lock's pid and the inode as MAJOR:MINOR:INODE, the
// device numbers in hex); "" where that is unavailable (another system, another pid namespace).
std::string lock_holder(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "";
  char inode[64];
  std::snprintf(inode, sizeof inode, "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
                static_cast<unsigned long long>(st.st_ino));
  std::ifstream locks("/proc/locks");
  for (std::string line; std::getline(locks, line);) {
    // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5382808 0 EOF"; blocked waiters carry "->".
    std::istringstream fields(line);
    std::string number, type, mode, access, where;
    long pid = 0;
    if (!(fields >> number >> type >> mode >> access >> pid >> where)) continue;
    if (type != "FLOCK" || where != inode || pid <= 0) continue;
    std::string holder = "pid " + std::to_string(pid);
    std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::string args((std::istreambuf_iterator<char>(cmdline)), {});
    while (!args.empty() && args.back() == '\0') args.pop_back();
    for (char& c : args)
      if (c == '\0') c = ' ';
    if (args.size() > 300) args = args.substr(0, 300) + "…";
    if (!args.empty()) holder += ": " + args;
    return holder;
  }
  return "";
}

}  // namespace

OutputLock::OutputLock(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0)
    throw RunFailure("cannot open the output folder '" + dir + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = err == EWOULDBLOCK ? lock_holder(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw RunFailure("another run is writing into '" + dir + "' (" +
                       (holder.empty() ? "its process is not known here" : holder) +
                       "); wait for it to finish, or give this run another output folder");
    throw RunFailure("cannot lock the output folder '" + dir + "': " + std::strerror(err));
  }
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock
}

}  // namespace embedflow
