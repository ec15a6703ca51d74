#include "models/similarity.h"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>

#include "models/transformer/fixed_gemm.h"

namespace embedflow {

namespace models {

void l2_normalize_rows(float* data, int64_t rows, int64_t dim) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = data + r * dim;
    double sq = 0;
    for (int64_t i = 0; i < dim; ++i) sq += static_cast<double>(row[i]) * row[i];
    const float inv = static_cast<float>(1.0 / std::max(std::sqrt(sq), 1e-12));
    for (int64_t i = 0; i < dim; ++i) row[i] *= inv;
  }
}

void l2_normalize_rows(Tensor& t) {
  if (t.ndim() == 0 || t.dim(0) == 0) return;
  l2_normalize_rows(t.data<float>(), t.dim(0), t.numel() / t.dim(0));
}

}  // namespace models

namespace {

namespace fg = models::transformer::fixed_gemm;

void check_matrix(const Tensor& t, const char* what) {
  if (t.ndim() != 2 || t.dtype() != DType::F32)
    throw std::invalid_argument(std::string(what) + ": expected a 2-d float32 matrix, got " +
                                dtype_name(t.dtype()) + " " + t.shape_str());
}

// The rows of `t` ([n, d] float32) L2-normalised, in a buffer of their own.
std::vector<float> normalized(const Tensor& t, const char* what) {
  check_matrix(t, what);
  const float* p = t.data<float>();
  std::vector<float> x(p, p + t.numel());
  models::l2_normalize_rows(x.data(), t.dim(0), t.dim(1));
  return x;
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
  check_matrix(a, "cosine: first argument");
  return CosineScorer(b).scores(a);
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

namespace {

std::string cut_label(const std::string& s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  const size_t keep = max_chars - 3, head = (keep + 1) / 2, tail = keep - head;
  return s.substr(0, head) + "..." + s.substr(s.size() - tail);
}

std::string pad_left(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

}  // namespace

std::string format_like_torch_labelled(const Tensor& m, const std::vector<std::string>& row_labels,
                                       const std::vector<std::string>& column_labels) {
  if (m.ndim() != 2 || m.dtype() != DType::F32)
    throw std::invalid_argument("format_like_torch_labelled: expected a 2-d float32 matrix");
  const int64_t rows = m.dim(0), cols = m.dim(1);
  if (static_cast<int64_t>(row_labels.size()) != rows)
    throw std::invalid_argument("format_like_torch_labelled: " + std::to_string(rows) +
                                " rows but " + std::to_string(row_labels.size()) + " labels");
  const float* p = m.data<float>();
  std::vector<std::string> cells(static_cast<size_t>(rows * cols));
  size_t width = 0;
  for (int64_t i = 0; i < rows * cols; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", p[i]);
    cells[static_cast<size_t>(i)] = buf;
    width = std::max(width, cells[static_cast<size_t>(i)].size());
  }
  // Column numbers right-aligned over the values (the prefix "tensor([[" is 9 characters).
  std::string out(9, ' ');
  for (int64_t c = 0; c < cols; ++c) {
    out += pad_left(std::to_string(c), width);
    if (c + 1 < cols) out += "  ";
  }
  out += "\n";
  const size_t index_width = std::to_string(std::max<int64_t>(rows, 1) - 1).size();
  const size_t line_width = 9 + cols * width + (cols > 0 ? (cols - 1) * 2 : 0) + 3;  // + "]])"
  for (int64_t r = 0; r < rows; ++r) {
    std::string line = r == 0 ? "tensor([[" : "        [";
    for (int64_t c = 0; c < cols; ++c) {
      if (c > 0) line += ", ";
      line += pad_left(cells[static_cast<size_t>(r * cols + c)], width);
    }
    line += r + 1 < rows ? "]," : "]])";
    line += std::string(line_width - std::min(line_width, line.size()), ' ');
    out += line + "  " + pad_left(std::to_string(r), index_width) + "  " +
           cut_label(row_labels[static_cast<size_t>(r)], 60) + "\n";
  }
  if (!column_labels.empty()) {
    const size_t cw = std::to_string(std::max<size_t>(column_labels.size(), 1) - 1).size();
    for (size_t c = 0; c < column_labels.size(); ++c)
      out += std::string(c == 0 ? "columns: " : "         ") + pad_left(std::to_string(c), cw) +
             "  " + cut_label(column_labels[c], 60) + "\n";
  }
  out.pop_back();  // the caller ends the last line, as with format_like_torch
  return out;
}

// The corpus, normalised, packed once for the fixed-order GEMM: every score is one dot product
// summed in the same order whatever the batch of queries, so a score does not depend on which
// queries were scored beside it, nor on the threads.
struct CosineScorer::Impl {
  std::optional<fg::PackedWeights> corpus;
  int64_t rows = 0, dim = 0;
  int64_t block_panels = 1;  // corpus rows per top-k block, in panels

  // scores[r, j] for queries q [n, dim] and corpus panels [p0, p1), scores rows ldo apart, on
  // TBB's threads (a score.cosine stage runs on one).
  void score(const float* q, int64_t n, int64_t p0, int64_t p1, float* out, int64_t ldo) const {
    const fg::Split split = corpus->split(n, tbb::this_task_arena::max_concurrency(), p0, p1);
    tbb::parallel_for(int64_t{0}, split.tasks(),
                      [&](int64_t t) { corpus->run_task(split, t, q, n, out, ldo, false); });
  }
};

CosineScorer::CosineScorer(const Tensor& corpus, int64_t block_rows)
    : impl_(std::make_unique<Impl>()) {
  const std::vector<float> x = normalized(corpus, "cosine: corpus");
  impl_->rows = corpus.dim(0);
  impl_->dim = corpus.dim(1);
  impl_->corpus.emplace(x.data(), impl_->rows, impl_->dim, impl_->dim, 1);
  const int64_t nr = impl_->corpus->kernels().nr;
  impl_->block_panels = std::max<int64_t>(1, std::max<int64_t>(1, block_rows) / nr);
}
CosineScorer::~CosineScorer() = default;
CosineScorer::CosineScorer(CosineScorer&&) noexcept = default;
CosineScorer& CosineScorer::operator=(CosineScorer&&) noexcept = default;
int64_t CosineScorer::rows() const {
  return impl_->rows;
}
int64_t CosineScorer::dim() const {
  return impl_->dim;
}

Tensor CosineScorer::scores(const Tensor& queries) const {
  const std::vector<float> q = normalized(queries, "cosine: queries");
  check_widths(queries.dim(1), dim());
  const int64_t n = queries.dim(0), m = rows();
  Tensor out(DType::F32, {n, m});
  if (n > 0 && m > 0) impl_->score(q.data(), n, 0, impl_->corpus->panels(), out.data<float>(), m);
  return out;
}

std::vector<std::vector<Neighbor>> CosineScorer::top_k(const Tensor& queries, int64_t k) const {
  const std::vector<float> q = normalized(queries, "cosine: queries");
  check_widths(queries.dim(1), dim());
  const int64_t n = queries.dim(0), m = rows();
  k = std::min(k, m);
  std::vector<std::vector<Neighbor>> best(static_cast<size_t>(n));
  if (k <= 0 || n == 0) return best;
  const auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
  };
  const int64_t nr = impl_->corpus->kernels().nr, panels = impl_->corpus->panels();
  const int64_t width = impl_->block_panels * nr;
  std::vector<float> scores(static_cast<size_t>(n * width));
  for (int64_t p0 = 0; p0 < panels; p0 += impl_->block_panels) {
    const int64_t p1 = std::min(panels, p0 + impl_->block_panels);
    const int64_t start = p0 * nr, len = std::min(m, p1 * nr) - start;
    impl_->score(q.data(), n, p0, p1, scores.data(), width);
    // Each query keeps its k best so far as a heap with the worst on top: a score enters only
    // when strictly better than that worst (a later corpus row loses a tie), so after the first
    // k most of a block is one comparison per score.
    tbb::parallel_for(int64_t{0}, n, [&](int64_t r) {
      auto& b = best[static_cast<size_t>(r)];
      const float* s = scores.data() + r * width;
      for (int64_t j = 0; j < len; ++j) {
        if (static_cast<int64_t>(b.size()) < k) {
          b.push_back({start + j, s[j]});
          std::push_heap(b.begin(), b.end(), better);
        } else if (s[j] > b.front().score) {
          std::pop_heap(b.begin(), b.end(), better);
          b.back() = {start + j, s[j]};
          std::push_heap(b.begin(), b.end(), better);
        }
      }
    });
  }
  for (auto& b : best) std::sort_heap(b.begin(), b.end(), better);  // best first
  return best;
}

}  // namespace embedflow
