// Writing into the cache (cache.h describes the layout): what a fetch needs beyond reading it.
#pragma once

#include <filesystem>
#include <string>

namespace embedflow::hub {

// An exclusive advisory lock on a lock file (flock, as Python's filelock uses on Unix), so two
// fetches of one model, from embedflow or huggingface_hub, do not write the same blob at once.
// Says on stderr that it waits when another process holds it; throws HubError(Io) naming the
// lock file after `timeout_s`.
class FileLock {
 public:
  FileLock(const std::filesystem::path& path, double timeout_s);
  ~FileLock();  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// .locks/models--org--name/<etag>.lock: where huggingface_hub locks a blob.
std::filesystem::path blob_lock_path(const std::filesystem::path& cache, const std::string& repo_id,
                                     const std::string& etag);

// snapshots/<commit>/<path> → ../../blobs/<etag> (one more ../ per folder level in <path>).
void link_into_snapshot(const std::filesystem::path& blob, const std::filesystem::path& pointer);

// refs/<revision> ← commit, unless it says so already.
void write_ref(const std::filesystem::path& repo_dir, const std::string& revision,
               const std::string& commit);

}  // namespace embedflow::hub
