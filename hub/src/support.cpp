#include "support.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "embedflow/atomic_file.h"
#include "embedflow/errors.h"
#include "embedflow/hub/error.h"

namespace embedflow::hub {

namespace fs = std::filesystem;

std::string trim(std::string s) {
  auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && blank(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && blank(s[i])) ++i;
  return s.substr(i);
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

uint64_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

std::string home_dir() {
  const char* h = std::getenv("HOME");
  return h && *h ? std::string(h) : std::string("/tmp");
}

std::string expand_user(const std::string& p) {
  if (p == "~") return home_dir();
  if (p.rfind("~/", 0) == 0) return home_dir() + p.substr(1);
  return p;
}

void write_file_atomic(const fs::path& path, const std::string& content) {
  try {
    AtomicFile f(path.string());
    f.write(content);
    f.commit();
  } catch (const RunFailure& e) {
    throw HubError(HubError::Kind::Io, e.what());
  } catch (const fs::filesystem_error& e) {  // its folder could not be created
    throw HubError(HubError::Kind::Io, "cannot write " + path.string() + ": " + e.what());
  }
}

void commit_file_atomic(const fs::path& tmp, const fs::path& path) {
  try {
    commit_file(tmp.string(), path.string());
  } catch (const RunFailure& e) {
    throw HubError(HubError::Kind::Io, e.what());
  }
}

void copy_file_atomic(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::path tmp = to;
  tmp += ".tmp-" + std::to_string(::getpid());
  // The kernel copies (copy_file_range); only the commit is AtomicFile's.
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(tmp, ec);
    throw HubError(HubError::Kind::Io,
                   "cannot copy " + from.string() + " to " + to.string() + ": " + why);
  }
  try {
    commit_file_atomic(tmp, to);
  } catch (const HubError&) {
    fs::remove(tmp, ec);
    throw;
  }
}

bool is_contained_path(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  for (unsigned char c : path)
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  size_t start = 0;
  for (;;) {
    const size_t end = path.find('/', start);
    const std::string part = path.substr(start, end == std::string::npos ? end : end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

bool is_hex(const std::string& s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

}  // namespace embedflow::hub
