#include "models/similarity.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include <torch/torch.h>

namespace embedflow {

namespace {

torch::Tensor as_matrix(const Tensor& t, const char* what) {
  if (t.ndim() != 2 || t.dtype() != DType::F32)
    throw std::invalid_argument(std::string(what) + ": expected a 2-d float32 matrix, got " +
                                dtype_name(t.dtype()) + " " + t.shape_str());
  return torch::from_blob(const_cast<void*>(t.raw()), {t.dim(0), t.dim(1)}, torch::kFloat32);
}

torch::Tensor normalized(const torch::Tensor& x) {
  return x / x.norm(2, 1, true).clamp_min(1e-12);
}

Tensor to_tensor(torch::Tensor t) {
  t = t.contiguous();
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  auto owner = std::make_shared<torch::Tensor>(t);
  return Tensor(DType::F32, std::move(shape), owner, owner->data_ptr<float>());
}

void check_widths(int64_t a, int64_t b) {
  if (a != b)
    throw std::invalid_argument("cosine: embedding widths differ (" + std::to_string(a) + " vs " +
                                std::to_string(b) +
                                "); both sides must come from the same "
                                "embedding space");
}

}  // namespace

Tensor cosine(const Tensor& a, const Tensor& b) {
  c10::InferenceMode guard;
  auto x = as_matrix(a, "cosine: first argument");
  auto y = as_matrix(b, "cosine: second argument");
  check_widths(x.size(1), y.size(1));
  return to_tensor(torch::mm(normalized(x), normalized(y).t()));
}

std::string format_like_torch(const Tensor& m) {
  if (m.ndim() != 2 || m.dtype() != DType::F32)
    throw std::invalid_argument("format_like_torch: expected a 2-d float32 matrix");
  const float* p = m.data<float>();
  std::string out = "tensor([";
  for (int64_t r = 0; r < m.dim(0); ++r) {
    if (r > 0) out += ",\n        ";
    out += "[";
    for (int64_t c = 0; c < m.dim(1); ++c) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.4f", c > 0 ? ", " : "", p[r * m.dim(1) + c]);
      out += buf;
    }
    out += "]";
  }
  return out + "])";
}

struct CosineScorer::Impl {
  torch::Tensor corpus;  // normalised [m, d]
  int64_t block = 16384;
};

CosineScorer::CosineScorer(const Tensor& corpus, int64_t block_rows)
    : impl_(std::make_unique<Impl>()) {
  c10::InferenceMode guard;
  impl_->corpus = normalized(as_matrix(corpus, "cosine: corpus")).contiguous();
  impl_->block = std::max<int64_t>(1, block_rows);
}
CosineScorer::~CosineScorer() = default;
CosineScorer::CosineScorer(CosineScorer&&) noexcept = default;
CosineScorer& CosineScorer::operator=(CosineScorer&&) noexcept = default;
int64_t CosineScorer::rows() const {
  return impl_->corpus.size(0);
}
int64_t CosineScorer::dim() const {
  return impl_->corpus.size(1);
}

Tensor CosineScorer::scores(const Tensor& queries) const {
  c10::InferenceMode guard;
  auto q = as_matrix(queries, "cosine: queries");
  check_widths(q.size(1), dim());
  return to_tensor(torch::mm(normalized(q), impl_->corpus.t()));
}

std::vector<std::vector<Neighbor>> CosineScorer::top_k(const Tensor& queries, int64_t k) const {
  c10::InferenceMode guard;
  auto q = as_matrix(queries, "cosine: queries");
  check_widths(q.size(1), dim());
  q = normalized(q);
  const int64_t n = q.size(0), m = rows();
  k = std::min(k, m);
  std::vector<std::vector<Neighbor>> best(static_cast<size_t>(n));
  if (k <= 0) return best;
  auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
  };
  for (int64_t start = 0; start < m; start += impl_->block) {
    const int64_t len = std::min(impl_->block, m - start);
    torch::Tensor s = torch::mm(q, impl_->corpus.narrow(0, start, len).t()).contiguous();
    // Candidates of this block (torch::topk), merged with the best so far.
    auto [vals, idx] = torch::topk(s, std::min(k, len), 1, true, true);
    auto v = vals.accessor<float, 2>();
    auto ix = idx.accessor<int64_t, 2>();
    for (int64_t r = 0; r < n; ++r) {
      auto& b = best[static_cast<size_t>(r)];
      for (int64_t j = 0; j < vals.size(1); ++j) b.push_back({start + ix[r][j], v[r][j]});
      std::sort(b.begin(), b.end(), better);
      if (static_cast<int64_t>(b.size()) > k) b.resize(static_cast<size_t>(k));
    }
  }
  return best;
}

}  // namespace embedflow
