// SHA-256 (OpenSSL) for content identity: model files in golden manifests, downloads checked
// against the hub's checksums, journal entries of resumable runs.
#pragma once

#include <string>

namespace embedflow {

std::string sha256_hex(const void* data, size_t size);
inline std::string sha256_hex(const std::string& s) {
  return sha256_hex(s.data(), s.size());
}
// Streams the file; throws std::runtime_error naming it when it cannot be read.
std::string sha256_file(const std::string& path);
// Git's object id of a file's content (how the hub names files not stored in LFS):
// sha1("blob <size>\0" + content). Throws like sha256_file.
std::string git_blob_sha1_file(const std::string& path);

}  // namespace embedflow
