#include "models/similarity.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include <torch/torch.h>

#include "models/torch_bridge.h"

namespace embedflow {

namespace {

// The rows of `t` ([n, d] float32) L2-normalised, in a torch tensor of their own.
torch::Tensor normalized(const Tensor& t, const char* what) {
  if (t.ndim() != 2 || t.dtype() != DType::F32)
    throw std::invalid_argument(std::string(what) + ": expected a 2-d float32 matrix, got " +
                                dtype_name(t.dtype()) + " " + t.shape_str());
  torch::Tensor x = models::to_torch(t).clone();
  models::l2_normalize_rows(x.data_ptr<float>(), x.size(0), x.size(1));
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
  c10::InferenceMode guard;
  const torch::Tensor x = normalized(a, "cosine: first argument");
  const torch::Tensor y = normalized(b, "cosine: second argument");
  check_widths(x.size(1), y.size(1));
  return models::from_torch(torch::mm(x, y.t()));
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

struct CosineScorer::Impl {
  torch::Tensor corpus;  // normalised [m, d]
  int64_t block = 16384;
};

CosineScorer::CosineScorer(const Tensor& corpus, int64_t block_rows)
    : impl_(std::make_unique<Impl>()) {
  c10::InferenceMode guard;
  impl_->corpus = normalized(corpus, "cosine: corpus");
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
  const torch::Tensor q = normalized(queries, "cosine: queries");
  check_widths(q.size(1), dim());
  return models::from_torch(torch::mm(q, impl_->corpus.t()));
}

std::vector<std::vector<Neighbor>> CosineScorer::top_k(const Tensor& queries, int64_t k) const {
  c10::InferenceMode guard;
  const torch::Tensor q = normalized(queries, "cosine: queries");
  check_widths(q.size(1), dim());
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
