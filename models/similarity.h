// Cosine similarity between embedding sets, as sentence-transformers' util.cos_sim /
// model.similarity: rows are L2-normalised (x / max(‖x‖, 1e-12)) and multiplied. Works for any
// embeddings of equal width (text, CLIP image and text, audio). Torch-free, in the
// embedflow_vector_math library (with the fixed-order GEMM it multiplies with), so score.cosine
// and the stages that normalise need no libtorch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "embedflow/tensor.h"

namespace embedflow {

namespace models {
// Divides each of the `rows` rows of `dim` floats by max(‖row‖₂, 1e-12), as
// torch.nn.functional.normalize: the norm accumulated in double, one multiplication per value.
void l2_normalize_rows(float* data, int64_t rows, int64_t dim);
// The same on every row of f32 [N, …] (rows: the first dimension), in place.
void l2_normalize_rows(Tensor& t);
}  // namespace models

// [n, d] × [m, d] → [n, m] float32, every score summed in one fixed order (the same bits whatever
// else is in a or b). Throws std::invalid_argument when the widths differ or a
// tensor is not a 2-d float32 matrix.
Tensor cosine(const Tensor& a, const Tensor& b);

// The matrix the way PyTorch prints it (sentence-transformers' README shows this):
// "tensor([[1.0000, 0.6660, 0.1046],\n        [...]])", four decimals.
std::string format_like_torch(const Tensor& matrix);

// The same tensor with labels, so that a 19×19 matrix reads without a sidecar: column numbers
// above the columns, each row followed by its number and label, values padded to one width as
// PyTorch pads them (a leading space for positives when any value is negative). When
// `column_labels` is given (a corpus other than the rows), a legend of the columns follows.
// Labels longer than 60 characters are cut in the middle.
//               0        1
//   tensor([[ 1.0000, -0.5000],   0  a.wav
//           [-0.5000,  1.0000]])  1  b.wav
std::string format_like_torch_labelled(const Tensor& matrix,
                                       const std::vector<std::string>& row_labels,
                                       const std::vector<std::string>& column_labels = {});

struct Neighbor {
  int64_t index = 0;  // row of the corpus
  float score = 0;
};

// Scores queries against a fixed corpus one block of corpus rows at a time, so top-k over a
// corpus whose score matrix would not fit in memory streams through bounded memory: at most
// queries × block_rows scores exist at once.
class CosineScorer {
 public:
  // `corpus` [m, d] float32; it is normalised once here.
  explicit CosineScorer(const Tensor& corpus, int64_t block_rows = 16384);
  ~CosineScorer();
  CosineScorer(CosineScorer&&) noexcept;
  CosineScorer& operator=(CosineScorer&&) noexcept;

  int64_t rows() const;
  int64_t dim() const;
  // Full rows of the matrix for `queries` [n, d] → [n, m].
  Tensor scores(const Tensor& queries) const;
  // The k best corpus rows of each query, best first (ties: lower index first).
  std::vector<std::vector<Neighbor>> top_k(const Tensor& queries, int64_t k) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedflow
