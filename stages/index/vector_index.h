// A FAISS index over embeddings, in the file format write.index writes and search.index reads:
// one line of magic, one line of JSON saying what search needs (kind, width, whether vectors
// are normalised, the search parameters, the labels sidecar), then FAISS's own serialisation.
// A query therefore needs no knowledge of how the index was built. FAISS is linked only by the
// on-demand library libembedflow_vector_index.so (stages/vector_index.cpp); this header is
// FAISS-free.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "embedflow/item.h"

namespace embedflow::vindex {

inline constexpr const char* kMagic = "EMBEDFLOW-INDEX 1";

struct BuildOptions {
  std::string kind = "flat";  // flat | hnsw | ivf
  bool normalize = true;      // cosine: rows L2-normalised before the inner product
  int64_t m = 32;             // hnsw: links per node
  int64_t ef_construction = 128;
  int64_t ef_search = 64;
  int64_t nlist = 0;  // ivf: lists; 0 = auto (about 4·√n, at least 39 training vectors each)
  int64_t nprobe = 32;
  int threads = 1;  // OpenMP threads for adding and training
};

// What the file's JSON line holds.
struct Header {
  std::string kind;
  std::string metric = "inner_product";
  bool normalize = true;
  int64_t dim = 0, count = 0;
  int64_t m = 0, ef_construction = 0, ef_search = 0, nlist = 0, nprobe = 0;
  std::string labels;  // the sidecar's file name, beside the index
  // The sidecar's SHA-256 when the index was written (empty in files from before it was kept):
  // the two files are committed one after the other, so a run stopped between them, or a
  // sidecar copied from another build, would otherwise label hits with another index's items
  // whenever the row counts agree.
  std::string labels_sha256;
  Json to_json() const;
  static Header from_json(const Json& j, const std::string& path);
};

struct Hit {
  int64_t row = 0;
  float score = 0;
};

// The nlist `auto` gives for n vectors.
int64_t auto_nlist(int64_t n);

class VectorIndex {
 public:
  VectorIndex();
  ~VectorIndex();
  VectorIndex(VectorIndex&&) noexcept;
  VectorIndex& operator=(VectorIndex&&) noexcept;

  // Builds over `rows` (n × d, row-major; normalised in place when options.normalize).
  // Throws std::invalid_argument with what to change (too few vectors for nlist, …).
  static VectorIndex build(const BuildOptions& options, std::vector<float>& rows, int64_t d);
  // Reads a file written by save(). Throws std::runtime_error naming the file and what is wrong.
  static VectorIndex load(const std::string& path);
  // Writes the header (naming `labels_file`) and the index to `path` through `write`, which
  // takes (data, bytes): an AtomicFile's write, so the file appears whole or not at all.
  void save(const std::function<void(const void*, size_t)>& write, const std::string& labels_file,
            const std::string& labels_sha256 = "") const;

  const Header& header() const { return header_; }
  // The best k rows for one query (d floats; normalised here when the index is), best first.
  // ef_search / nprobe <= 0: the index's own. Thread-safe (const, single-threaded per call).
  std::vector<Hit> search(const float* query, int64_t k, int64_t ef_search = 0,
                          int64_t nprobe = 0) const;
  // n queries at once (n × d), on the calling thread's OpenMP team: for benchmarks and tests.
  void search_batch(const float* queries, int64_t n, int64_t k, std::vector<int64_t>& rows,
                    std::vector<float>& scores, int64_t ef_search = 0, int64_t nprobe = 0) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Header header_;
};

// One line of the labels sidecar.
struct Label {
  std::string id, source, text;
  // What a person reads for this row: its text if it has one, else its source (a path).
  const std::string& display() const { return text.empty() ? source : text; }
};

// Reads the sidecar (JSON Lines: row, id, source, text) into rows order; checks that it has
// exactly `count` rows numbered 0…count-1.
std::vector<Label> read_labels(const std::string& path, int64_t count);

}  // namespace embedflow::vindex
