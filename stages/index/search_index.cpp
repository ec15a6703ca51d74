#include "stages/index/search_index.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "embedflow/errors.h"
#include "embedflow/hash.h"
#include "stages/index/write_index.h"

namespace embedflow {

SearchIndex::SearchIndex(const Params& params) : params_(params) {
  path_ = params.get_string("index");
  k_ = params.get_int("k");
  ef_search_ = params.get_int("ef_search");
  nprobe_ = params.get_int("nprobe");
  exclude_self_ = params.get_bool("exclude_self");
}

void SearchIndex::open(const StageContext& ctx) {
  (void)ctx;
  std::string labels_path;
  try {
    index_ = vindex::VectorIndex::load(path_);
    const vindex::Header& h = index_.header();
    labels_path = h.labels.empty()
                      ? index_labels_path(path_)
                      : (std::filesystem::path(path_).parent_path() / h.labels).string();
    labels_ = vindex::read_labels(labels_path, h.count);
    if (!h.labels_sha256.empty() && sha256_file(labels_path) != h.labels_sha256)
      throw std::runtime_error(
          labels_path + " is not the labels file " + path_ +
          " was written with (its content changed since: a build stopped between writing the "
          "two, or a file copied from another index); rebuild both with write.index");
  } catch (const std::exception& e) {
    throw params_.error("index", e.what());
  }
}

std::string SearchIndex::description() const {
  const vindex::Header& h = index_.header();
  std::string d = path_ + ": " + h.kind + ", " + std::to_string(h.count) + " × " +
                  std::to_string(h.dim) + (h.normalize ? ", cosine" : ", inner product");
  if (h.kind == "hnsw") d += ", ef_search " + std::to_string(ef_search_ ? ef_search_ : h.ef_search);
  if (h.kind == "ivf") d += ", nprobe " + std::to_string(nprobe_ ? nprobe_ : h.nprobe);
  return d;
}

void SearchIndex::process(const Item& in, Item& out) {
  const Tensor& t = in.tensor;
  const vindex::Header& h = index_.header();
  if (!t.defined() || t.dtype() != DType::F32 || t.ndim() != 1)
    throw ItemFailure("search.index: expected an embedding f32 [D], got " +
                      std::string(kind_name(in.kind)));
  if (t.dim(0) != h.dim)
    // Every query would fail alike: the pipeline embeds with another model than the index's.
    throw RunFailure("search.index: the query '" + in.id + "' is " + std::to_string(t.dim(0)) +
                     "-d but " + path_ + " holds " + std::to_string(h.dim) +
                     "-d vectors; embed the queries with the model that built the index");
  const float* q = t.data<float>();
  for (int64_t c = 0; c < h.dim; ++c)
    if (!std::isfinite(q[c]))
      throw ItemFailure("search.index: the query has a NaN or infinite value at position " +
                        std::to_string(c));
  // One more candidate when the query itself may be among them: k others remain.
  std::vector<vindex::Hit> hits =
      index_.search(q, exclude_self_ ? k_ + 1 : k_, ef_search_, nprobe_);
  if (exclude_self_)
    hits.erase(std::remove_if(hits.begin(), hits.end(),
                              [&](const vindex::Hit& hit) {
                                return labels_[static_cast<size_t>(hit.row)].id == in.id;
                              }),
               hits.end());
  if (static_cast<int64_t>(hits.size()) > k_) hits.resize(static_cast<size_t>(k_));
  Json list = Json::array();
  for (size_t r = 0; r < hits.size(); ++r) {
    const vindex::Label& l = labels_[static_cast<size_t>(hits[r].row)];
    list.push_back(
        {{"rank", r + 1}, {"id", l.id}, {"label", l.display()}, {"score", hits[r].score}});
  }
  out.kind = Kind::Record;
  out.record = {{"query_id", in.id},
                {"query", in.text.empty() ? in.source : in.text},
                {"hits", std::move(list)}};
}

}  // namespace embedflow
