// Output files that appear whole or not at all: written under a temporary name beside the
// target, fsync'ed, then renamed over it.
#pragma once

#include <cstdio>
#include <string>

namespace embedflow {

// fsync `tmp`, then rename it to `path`: how a file written under a temporary name some other way
// than AtomicFile (a download resumed across runs keeps its partial file under a name of its own)
// is put in place whole. Throws RunFailure; `tmp` is left as it was.
void commit_file(const std::string& tmp, const std::string& path);

class AtomicFile {
 public:
  AtomicFile() = default;
  explicit AtomicFile(std::string path);  // creates parent folders; throws std::runtime_error
  ~AtomicFile();                          // not committed: the temporary is removed
  AtomicFile(AtomicFile&& o) noexcept;
  AtomicFile& operator=(AtomicFile&& o) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  bool is_open() const { return file_ != nullptr; }
  void write(const void* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  // Overwrites bytes at `offset` (used to patch a header once the row count is known).
  void pwrite(const void* data, size_t n, long offset);
  long tell() const;
  // Flush, fsync, rename into place; returns the path the file now has. A write that failed
  // (disk full) makes commit throw RunFailure and leaves whatever was at the path untouched:
  // stdio drops its buffer on a failed write, so without this a cut-off file would be renamed
  // into place. `complete` false (an interrupted run, a writer that got no items) never
  // replaces an existing file: the result lands beside it as partial_path(path).
  std::string commit(bool complete = true);
  void discard();
  const std::string& path() const { return path_; }

 private:
  void check_write(bool ok);
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  bool failed_ = false;      // a write failed: the content is incomplete
  std::string write_error_;  // why the first failed write failed ("No space left on device")
};

// "out/emb.npy" → "out/emb.partial.npy": where the output of an incomplete run goes when a
// previous output is in the way.
std::string partial_path(const std::string& path);

}  // namespace embedflow
