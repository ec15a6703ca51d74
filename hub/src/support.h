// Small helpers the hub's source files share (not part of the library's interface).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace embedflow::hub {

std::string trim(std::string s);
std::string read_text(const std::filesystem::path& p);  // "" when it cannot be read
uint64_t file_size_or_zero(const std::filesystem::path& p);

// "~" and "~/x" → $HOME (or /tmp without one), as os.path.expanduser.
std::string expand_user(const std::string& p);
std::string home_dir();

// Files that appear whole or not at all (the engine's AtomicFile: temporary, fsync, rename).
// Throw HubError(Io).
void write_file_atomic(const std::filesystem::path& path, const std::string& content);
void copy_file_atomic(const std::filesystem::path& from, const std::filesystem::path& to);
// The last step for a temporary filled some other way (a resumable download): fsync, rename.
void commit_file_atomic(const std::filesystem::path& tmp, const std::filesystem::path& path);

// A relative path that stays inside the folder it is joined to: not empty, no leading '/', no
// empty, '.' or '..' component, no backslash, NUL or other control character. Repository file
// names and revisions (refs/<revision> in the cache) become paths on disk through this check.
bool is_contained_path(const std::string& path);

bool is_hex(const std::string& s, size_t len);  // lower-case hex of exactly `len` digits
inline bool is_commit_hash(const std::string& s) {
  return is_hex(s, 40);
}

}  // namespace embedflow::hub
