// FAISS's flat storage and IVF lists with the index's own inner products (distance.h) in place
// of Debian's scalar ones. They are subclasses FAISS serialises as their parents (IndexFlatIP,
// IndexIVFFlat), so the files are plain FAISS; `faster` puts a loaded index's parts back into
// them. Internal to libembedflow_vector_index.so.
#pragma once

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>

namespace embedflow::vindex {

// IndexFlatIP whose distance computer (what HNSW runs on) and small searches (< 20 queries,
// where FAISS does not use BLAS) use the SIMD inner products.
struct FastFlatIP : faiss::IndexFlatIP {
  explicit FastFlatIP(idx_t d) : faiss::IndexFlatIP(d) {}
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override;
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;
};

// IndexIVFFlat (inner product) whose list scanner uses the SIMD inner products.
struct FastIVFFlat : faiss::IndexIVFFlat {
  FastIVFFlat(faiss::Index* quantizer, size_t d, size_t nlist)
      : faiss::IndexIVFFlat(quantizer, d, nlist, faiss::METRIC_INNER_PRODUCT) {}
  faiss::InvertedListScanner* get_InvertedListScanner(bool store_pairs,
                                                      const faiss::IDSelector* sel) const override;
};

// A FastFlatIP holding `flat`'s vectors (moved out of it).
FastFlatIP* take_flat(faiss::IndexFlat& flat);
// The index with its flat parts (HNSW storage, IVF quantizer and lists) in the fast classes;
// returns `index` itself or its replacement (then `index` is deleted). Inner product only.
faiss::Index* faster(faiss::Index* index);

}  // namespace embedflow::vindex
