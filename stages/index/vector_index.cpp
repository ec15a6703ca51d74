#include "stages/index/vector_index.h"

#include "models/similarity.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include "stages/index/faiss_fast.h"

namespace embedflow::vindex {

namespace {

using idx_t = faiss::Index::idx_t;

// FAISS parallelises with OpenMP over the calling thread's team. A query runs on one TBB worker
// with one thread (as the model stages run theirs), a build on the stage's share of the cores;
// the worker's own setting is put back afterwards, since libtorch reads the same per-thread value.
class OmpThreads {
 public:
  explicit OmpThreads(int n) : previous_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~OmpThreads() { omp_set_num_threads(previous_); }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int previous_;
};

struct FunctionWriter : faiss::IOWriter {
  const std::function<void(const void*, size_t)>* write = nullptr;
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    (*write)(ptr, size * nitems);
    return nitems;
  }
};

}  // namespace

struct VectorIndex::Impl {
  std::unique_ptr<faiss::Index> index;
};

VectorIndex::VectorIndex() : impl_(std::make_unique<Impl>()) {}
VectorIndex::~VectorIndex() = default;
VectorIndex::VectorIndex(VectorIndex&&) noexcept = default;
VectorIndex& VectorIndex::operator=(VectorIndex&&) noexcept = default;

Json Header::to_json() const {
  Json j{{"kind", kind},
         {"metric", metric},
         {"normalize", normalize},
         {"dim", dim},
         {"count", count},
         {"m", m},
         {"ef_construction", ef_construction},
         {"ef_search", ef_search},
         {"nlist", nlist},
         {"nprobe", nprobe},
         {"labels", labels}};
  if (!labels_sha256.empty()) j["labels_sha256"] = labels_sha256;
  return j;
}

Header Header::from_json(const Json& j, const std::string& path) {
  Header h;
  try {
    h.kind = j.at("kind").get<std::string>();
    h.metric = j.at("metric").get<std::string>();
    h.normalize = j.at("normalize").get<bool>();
    h.dim = j.at("dim").get<int64_t>();
    h.count = j.at("count").get<int64_t>();
    h.m = j.value("m", int64_t{0});
    h.ef_construction = j.value("ef_construction", int64_t{0});
    h.ef_search = j.value("ef_search", int64_t{0});
    h.nlist = j.value("nlist", int64_t{0});
    h.nprobe = j.value("nprobe", int64_t{0});
    h.labels = j.value("labels", std::string());
    h.labels_sha256 = j.value("labels_sha256", std::string());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": the index header is incomplete (" + e.what() +
                             "); rebuild the index with write.index");
  }
  if (h.kind != "flat" && h.kind != "hnsw" && h.kind != "ivf")
    throw std::runtime_error(path + ": unknown index kind '" + h.kind + "' in its header");
  if (h.metric != "inner_product")
    throw std::runtime_error(path + ": unsupported metric '" + h.metric + "'");
  return h;
}

int64_t auto_nlist(int64_t n) {
  // FAISS's k-means wants ≥ 39 training points per centroid; 4·√n lists is its usual advice.
  const auto by_sqrt = static_cast<int64_t>(std::lround(4.0 * std::sqrt(static_cast<double>(n))));
  return std::max<int64_t>(1, std::min<int64_t>(by_sqrt, n / 39));
}

VectorIndex VectorIndex::build(const BuildOptions& o, std::vector<float>& rows, int64_t d) {
  if (d <= 0 || rows.empty() || rows.size() % static_cast<size_t>(d) != 0)
    throw std::invalid_argument("no vectors to index");
  const auto n = static_cast<int64_t>(rows.size()) / d;
  if (o.normalize) models::l2_normalize_rows(rows.data(), n, d);
  VectorIndex vi;
  Header& h = vi.header_;
  h.kind = o.kind;
  h.normalize = o.normalize;
  h.dim = d;
  h.count = n;
  OmpThreads threads(std::max(1, o.threads));
  try {
    if (o.kind == "flat") {
      vi.impl_->index = std::make_unique<FastFlatIP>(d);
    } else if (o.kind == "hnsw") {
      auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(d, static_cast<int>(o.m),
                                                         faiss::METRIC_INNER_PRODUCT);
      delete hnsw->storage;  // a plain IndexFlat: its scalar distances would do all the work
      hnsw->storage = new FastFlatIP(d);
      hnsw->hnsw.efConstruction = static_cast<int>(o.ef_construction);
      hnsw->hnsw.efSearch = static_cast<int>(o.ef_search);
      h.m = o.m;
      h.ef_construction = o.ef_construction;
      h.ef_search = o.ef_search;
      vi.impl_->index = std::move(hnsw);
    } else if (o.kind == "ivf") {
      const int64_t nlist = o.nlist > 0 ? o.nlist : auto_nlist(n);
      if (n < nlist)
        throw std::invalid_argument(
            "kind: ivf with nlist " + std::to_string(nlist) + " needs at least " +
            std::to_string(nlist) + " vectors to train its lists, got " + std::to_string(n) +
            "; lower nlist (0 picks it from the count), or use kind: flat or hnsw");
      auto ivf = std::make_unique<FastIVFFlat>(new FastFlatIP(d), d, static_cast<size_t>(nlist));
      ivf->own_fields = true;
      ivf->cp.seed = 1234;  // the same vectors give the same lists on every run
      ivf->train(n, rows.data());
      ivf->nprobe = static_cast<size_t>(std::min(o.nprobe, nlist));
      h.nlist = nlist;
      h.nprobe = static_cast<int64_t>(ivf->nprobe);
      vi.impl_->index = std::move(ivf);
    } else {
      throw std::invalid_argument("unknown index kind '" + o.kind + "'");
    }
    vi.impl_->index->add(n, rows.data());
  } catch (const faiss::FaissException& e) {
    throw std::runtime_error(std::string("FAISS: ") + e.what());
  }
  return vi;
}

void VectorIndex::save(const std::function<void(const void*, size_t)>& write,
                       const std::string& labels_file, const std::string& labels_sha256) const {
  Header h = header_;
  h.labels = labels_file;
  h.labels_sha256 = labels_sha256;
  const std::string head = std::string(kMagic) + "\n" + h.to_json().dump() + "\n";
  write(head.data(), head.size());
  FunctionWriter writer;
  writer.write = &write;
  try {
    faiss::write_index(impl_->index.get(), &writer);
  } catch (const faiss::FaissException& e) {
    throw std::runtime_error(std::string("FAISS: ") + e.what());
  }
}

namespace {

// One '\n'-terminated line of at most `limit` bytes; false at end of file or when longer.
bool read_line(std::FILE* f, std::string& line, size_t limit) {
  line.clear();
  for (int c; (c = std::fgetc(f)) != EOF;) {
    if (c == '\n') return true;
    if (line.size() >= limit) return false;
    line.push_back(static_cast<char>(c));
  }
  return false;
}

}  // namespace

VectorIndex VectorIndex::load(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f)
    throw std::runtime_error("cannot open the index " + path +
                             ": no such file or not readable; build it with a write.index stage "
                             "(`embedflow stages write.index`)");
  std::string magic, json;
  if (!read_line(f.get(), magic, 64) || magic != kMagic)
    throw std::runtime_error(path + " is not an embedflow index (it does not start with '" +
                             kMagic + "'); build it with a write.index stage");
  if (!read_line(f.get(), json, 1 << 16))
    throw std::runtime_error(path + ": the index header is cut off; rebuild the index");
  Json j;
  try {
    j = Json::parse(json);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": the index header is not JSON (" + e.what() +
                             "); rebuild the index");
  }
  VectorIndex vi;
  vi.header_ = Header::from_json(j, path);
  try {
    faiss::FileIOReader reader(f.get());
    vi.impl_->index.reset(faster(faiss::read_index(&reader)));
  } catch (const faiss::FaissException& e) {
    throw std::runtime_error(path + ": the FAISS index in it does not read (" +
                             std::string(e.what()) + "); the file is damaged, rebuild it");
  }
  const faiss::Index& index = *vi.impl_->index;
  if (index.d != vi.header_.dim || index.ntotal != vi.header_.count)
    throw std::runtime_error(path + ": the header says " + std::to_string(vi.header_.count) +
                             " × " + std::to_string(vi.header_.dim) + " but the index holds " +
                             std::to_string(index.ntotal) + " × " + std::to_string(index.d) +
                             "; the file is damaged, rebuild it");
  return vi;
}

void VectorIndex::search_batch(const float* queries, int64_t n, int64_t k,
                               std::vector<int64_t>& rows, std::vector<float>& scores,
                               int64_t ef_search, int64_t nprobe) const {
  const int64_t d = header_.dim;
  std::vector<float> q(queries, queries + n * d);
  if (header_.normalize) models::l2_normalize_rows(q.data(), n, d);
  rows.assign(static_cast<size_t>(n * k), -1);
  scores.assign(static_cast<size_t>(n * k), 0.f);
  std::vector<idx_t> labels(static_cast<size_t>(n * k), -1);
  faiss::SearchParametersHNSW hnsw;
  faiss::SearchParametersIVF ivf;
  const faiss::SearchParameters* params = nullptr;
  if (header_.kind == "hnsw") {
    hnsw.efSearch = static_cast<int>(ef_search > 0 ? ef_search : header_.ef_search);
    params = &hnsw;
  } else if (header_.kind == "ivf") {
    ivf.nprobe = static_cast<size_t>(
        std::min(nprobe > 0 ? nprobe : header_.nprobe, std::max<int64_t>(1, header_.nlist)));
    params = &ivf;
  }
  try {
    impl_->index->search(n, q.data(), k, scores.data(), labels.data(), params);
  } catch (const faiss::FaissException& e) {
    throw std::runtime_error(std::string("FAISS search: ") + e.what());
  }
  for (size_t i = 0; i < labels.size(); ++i) rows[i] = labels[i];
}

std::vector<Hit> VectorIndex::search(const float* query, int64_t k, int64_t ef_search,
                                     int64_t nprobe) const {
  OmpThreads one(1);
  std::vector<int64_t> rows;
  std::vector<float> scores;
  search_batch(query, 1, k, rows, scores, ef_search, nprobe);
  std::vector<Hit> hits;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i] >= 0) hits.push_back({rows[i], scores[i]});  // -1: fewer than k found
  return hits;
}

std::vector<Label> read_labels(const std::string& path, int64_t count) {
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("cannot read the index's labels " + path +
                             " (written beside the index by write.index); copy it with the index");
  std::vector<Label> labels;
  labels.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      const Json j = Json::parse(line);
      if (j.at("row").get<int64_t>() != static_cast<int64_t>(labels.size()))
        throw std::runtime_error("row " + j.at("row").dump() + " where " +
                                 std::to_string(labels.size()) + " was expected");
      Label l;
      l.id = j.at("id").get<std::string>();
      l.source = j.value("source", std::string());
      l.text = j.value("text", std::string());
      labels.push_back(std::move(l));
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": " + e.what() +
                               "; the labels do not match the index, rebuild both");
    }
  }
  if (static_cast<int64_t>(labels.size()) != count)
    throw std::runtime_error(path + " has " + std::to_string(labels.size()) +
                             " rows but the index holds " + std::to_string(count) +
                             "; the labels do not match the index, rebuild both");
  return labels;
}

}  // namespace embedflow::vindex
