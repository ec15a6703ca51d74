// Item spools: what a writer would have been given, kept on disk so that the final files can be
// written later by the writer itself — after a resumed run, or when shards are merged. Because
// the same writer code sees the same items in the same order, merged and resumed outputs are
// byte-identical to those of one uninterrupted run.
//
// Format: records of [u32 header length][JSON header][u64 payload length][tensor bytes]; the
// header holds id, source, index, kind, text, sample_rate, meta, record, dtype and shape.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "embedflow/atomic_file.h"
#include "embedflow/item.h"

namespace embedflow::jobs {

class SpoolWriter {
 public:
  explicit SpoolWriter(const std::string& path);  // atomic: the file appears on commit()
  void append(const Item& item);
  void commit();
  uint64_t count() const { return count_; }

 private:
  AtomicFile file_;
  uint64_t count_ = 0;
};

class SpoolReader {
 public:
  explicit SpoolReader(const std::string& path);  // throws std::runtime_error naming the file
  ~SpoolReader();
  SpoolReader(const SpoolReader&) = delete;
  SpoolReader& operator=(const SpoolReader&) = delete;
  // False at the end; throws on a damaged record.
  bool next(Item& item);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace embedflow::jobs
