// NumPy .npy files (format 1.0, little-endian, C order), readable by numpy.load.
#pragma once

#include <string>
#include <vector>

#include "embedflow/atomic_file.h"
#include "embedflow/tensor.h"

namespace embedflow {

// The magic, version and header dict, padded so the data starts at a multiple of 64 bytes.
// `min_size` reserves room so the header can be rewritten later with a larger shape.
std::string npy_header(DType dtype, const std::vector<int64_t>& shape, size_t min_size = 0);
void write_npy(const std::string& path, const Tensor& t);  // atomic
Tensor read_npy(const std::string& path);                  // throws std::runtime_error

// Streams rows of one shape into an .npy whose first dimension is the number of rows, without
// holding them in memory. Rows of another shape or dtype are rejected.
class NpyStreamWriter {
 public:
  explicit NpyStreamWriter(std::string path);
  // Throws std::invalid_argument when `row` does not match the first row's dtype and shape.
  void append(const Tensor& row);
  // Patches the header with the row count, then renames into place (AtomicFile::commit).
  std::string commit(bool complete = true);
  // The row shape and dtype to declare when no row comes: [0, ...shape] instead of [0].
  void expect_row_shape(std::vector<int64_t> shape, DType dtype) {
    expected_shape_ = std::move(shape);
    expected_dtype_ = dtype;
  }
  int64_t rows() const { return rows_; }
  const std::vector<int64_t>& row_shape() const { return row_shape_; }
  DType dtype() const { return dtype_; }

 private:
  std::string path_;
  AtomicFile file_;
  DType dtype_ = DType::F32;
  std::vector<int64_t> row_shape_;
  int64_t rows_ = 0;
  bool started_ = false;
  std::vector<int64_t> expected_shape_;
  DType expected_dtype_ = DType::F32;
};

}  // namespace embedflow
