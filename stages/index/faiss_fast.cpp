#include "stages/index/faiss_fast.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <typeinfo>
#include <vector>

#include <faiss/IndexHNSW.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/utils/Heap.h>
#include <faiss/utils/distances.h>

#include "stages/index/distance.h"

namespace embedflow::vindex {

namespace {

using idx_t = faiss::Index::idx_t;

struct InnerProductDistance : faiss::FlatCodesDistanceComputer {
  const float* xb;
  size_t d;
  const float* q = nullptr;
  const kernels::Table& k = kernels::table();
  explicit InnerProductDistance(const faiss::IndexFlat& storage)
      : faiss::FlatCodesDistanceComputer(storage.codes.data(), storage.code_size),
        xb(storage.get_xb()),
        d(static_cast<size_t>(storage.d)) {}
  void set_query(const float* x) override { q = x; }
  float distance_to_code(const uint8_t* code) override {
    return k.inner_product(q, reinterpret_cast<const float*>(code), static_cast<int64_t>(d));
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return k.inner_product(xb + i * d, xb + j * d, static_cast<int64_t>(d));
  }
};

struct InnerProductScanner : faiss::InvertedListScanner {
  size_t d;
  const float* q = nullptr;
  const kernels::Table& k = kernels::table();
  InnerProductScanner(size_t dim, bool store_pairs, const faiss::IDSelector* sel)
      : faiss::InvertedListScanner(store_pairs, sel), d(dim) {
    keep_max = true;  // inner product: larger is nearer
    code_size = dim * sizeof(float);
  }
  void set_query(const float* x) override { q = x; }
  void set_list(idx_t list, float) override { list_no = list; }
  float distance_to_code(const uint8_t* code) const override {
    return k.inner_product(q, reinterpret_cast<const float*>(code), static_cast<int64_t>(d));
  }
};

}  // namespace

faiss::FlatCodesDistanceComputer* FastFlatIP::get_FlatCodesDistanceComputer() const {
  return new InnerProductDistance(*this);
}

void FastFlatIP::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
                        const faiss::SearchParameters* params) const {
  // From 20 queries on FAISS multiplies matrices with BLAS, which is fast already.
  if (n >= faiss::distance_compute_blas_threshold || params) {
    faiss::IndexFlatIP::search(n, x, k, distances, labels, params);
    return;
  }
  const kernels::Table& kt = kernels::table();
  std::vector<float> scores(static_cast<size_t>(ntotal));
  for (idx_t q = 0; q < n; ++q) {
    kt.inner_products(x + q * d, get_xb(), ntotal, d, scores.data());
    float* dis = distances + q * k;
    idx_t* lab = labels + q * k;
    faiss::minheap_heapify(static_cast<size_t>(k), dis, lab);
    for (idx_t r = 0; r < ntotal; ++r)
      if (scores[static_cast<size_t>(r)] > dis[0])
        faiss::minheap_replace_top(static_cast<size_t>(k), dis, lab, scores[static_cast<size_t>(r)],
                                   r);
    faiss::minheap_reorder(static_cast<size_t>(k), dis, lab);
  }
}

faiss::InvertedListScanner* FastIVFFlat::get_InvertedListScanner(
    bool store_pairs, const faiss::IDSelector* sel) const {
  return new InnerProductScanner(static_cast<size_t>(d), store_pairs, sel);
}

FastFlatIP* take_flat(faiss::IndexFlat& flat) {
  auto fast = std::make_unique<FastFlatIP>(flat.d);
  fast->codes.swap(flat.codes);
  fast->ntotal = flat.ntotal;
  flat.ntotal = 0;
  return fast.release();
}

faiss::Index* faster(faiss::Index* index) {
  if (index->metric_type != faiss::METRIC_INNER_PRODUCT) return index;
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index)) {
    auto* flat = dynamic_cast<faiss::IndexFlat*>(hnsw->storage);
    if (flat && !dynamic_cast<FastFlatIP*>(flat)) {
      hnsw->storage = take_flat(*flat);
      if (hnsw->own_fields) delete flat;
      hnsw->own_fields = true;
    }
    return index;
  }
  if (auto* ivf = dynamic_cast<faiss::IndexIVFFlat*>(index);
      ivf && !dynamic_cast<FastIVFFlat*>(ivf) && typeid(*ivf) == typeid(faiss::IndexIVFFlat)) {
    faiss::Index* quantizer = ivf->quantizer;
    if (auto* flat = dynamic_cast<faiss::IndexFlat*>(quantizer); flat && ivf->own_fields) {
      quantizer = take_flat(*flat);
      delete flat;
    }
    auto fast = std::make_unique<FastIVFFlat>(quantizer, static_cast<size_t>(ivf->d), ivf->nlist);
    fast->own_fields = ivf->own_fields || quantizer != ivf->quantizer;
    ivf->own_fields = false;
    fast->replace_invlists(ivf->invlists, ivf->own_invlists);
    ivf->own_invlists = false;
    fast->ntotal = ivf->ntotal;
    fast->is_trained = ivf->is_trained;
    fast->nprobe = ivf->nprobe;
    delete index;
    return fast.release();
  }
  if (auto* flat = dynamic_cast<faiss::IndexFlat*>(index);
      flat && !dynamic_cast<FastFlatIP*>(flat)) {
    faiss::Index* fast = take_flat(*flat);
    delete index;
    return fast;
  }
  return index;
}

}  // namespace embedflow::vindex
