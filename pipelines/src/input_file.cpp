#include "embedflow/input_file.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedflow/errors.h"

namespace embedflow {

namespace {

const char* file_type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

std::string non_regular_file_kind(const std::string& path, bool follow_links) {
  struct stat st {};
  const int rc = follow_links ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (rc != 0 || S_ISREG(st.st_mode)) return "";
  return file_type_name(st.st_mode);
}

uint64_t check_input_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw ItemFailure("'" + path + "': no such file");
    throw ItemFailure("'" + path + "': " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    throw ItemFailure("'" + path + "' is " + file_type_name(st.st_mode) +
                      ", not a regular file; only files are read");
  // Permission problems get errno's wording here rather than a decoder's; O_NONBLOCK so that a
  // file swapped for a FIFO since stat() cannot block us.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw ItemFailure("'" + path + "': cannot open: " + std::strerror(errno));
  ::close(fd);
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace embedflow
