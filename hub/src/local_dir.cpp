#include "local_dir.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "support.h"

namespace embedflow::hub {

namespace fs = std::filesystem;

namespace {

fs::path local_meta_dir(const fs::path& dir) {
  return dir / ".cache" / "huggingface";
}

}  // namespace

fs::path local_download_entry(const fs::path& dir, const std::string& path) {
  return local_meta_dir(dir) / "download" / path;
}

std::optional<LocalMetadata> read_local_metadata(const fs::path& dir, const std::string& path) {
  fs::path meta = local_download_entry(dir, path);
  meta += ".metadata";
  std::ifstream f(meta);
  LocalMetadata m;
  std::string ts;
  if (!f || !std::getline(f, m.commit) || !std::getline(f, m.etag) || !std::getline(f, ts))
    return std::nullopt;
  m.commit = trim(m.commit);
  m.etag = trim(m.etag);
  m.timestamp = std::strtod(ts.c_str(), nullptr);
  std::error_code ec;
  auto mtime = fs::last_write_time(dir / path, ec);
  if (ec) return std::nullopt;
  // file_time_type's clock is not system_clock in C++17; convert through "now" on both clocks.
  auto sys = std::chrono::system_clock::now() +
             std::chrono::duration_cast<std::chrono::system_clock::duration>(
                 mtime - fs::file_time_type::clock::now());
  double mtime_s = std::chrono::duration<double>(sys.time_since_epoch()).count();
  if (mtime_s - 1 > m.timestamp) return std::nullopt;  // edited since: check its content
  return m;
}

void write_local_metadata(const fs::path& dir, const std::string& path, const std::string& commit,
                          const std::string& etag) {
  fs::path root = local_meta_dir(dir);
  if (!fs::exists(root / ".gitignore")) write_file_atomic(root / ".gitignore", "*\n");
  double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  char ts[64];
  std::snprintf(ts, sizeof ts, "%.6f", now);
  fs::path meta = local_download_entry(dir, path);
  meta += ".metadata";
  write_file_atomic(meta, commit + "\n" + etag + "\n" + ts + "\n");
}

}  // namespace embedflow::hub
