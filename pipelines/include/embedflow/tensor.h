// A small dense n-d array that crosses stage boundaries without dragging torch or OpenCV into the
// engine. Storage is shared and treated as immutable once an item leaves a stage, so fan-out
// copies are free.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace embedflow {

enum class DType : uint8_t { F32, U8, I64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::F32;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::U8;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::I64;
}

class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-initialised, 64-byte aligned storage.
  Tensor(DType dtype, std::vector<int64_t> shape);
  // Wraps memory owned by `owner` (e.g. a torch tensor or an mmap) without copying.
  Tensor(DType dtype, std::vector<int64_t> shape, std::shared_ptr<void> owner, void* data);

  template <class T>
  static Tensor from_vector(const std::vector<T>& values, std::vector<int64_t> shape);

  bool defined() const { return data_ != nullptr; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const;  // negative indices count from the end
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  template <class T>
  T* data();  // throws std::logic_error on dtype mismatch
  template <class T>
  const T* data() const;
  const void* raw() const { return data_; }
  void* raw_mut() { return data_; }

  // Same storage, new shape (numel must match).
  Tensor reshape(std::vector<int64_t> shape) const;
  Tensor clone() const;
  std::string shape_str() const;  // "[3, 224, 224]"

 private:
  void check_dtype(DType want) const;
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
};

template <class T>
T* Tensor::data() {
  check_dtype(dtype_of<T>());
  return static_cast<T*>(data_);
}
template <class T>
const T* Tensor::data() const {
  check_dtype(dtype_of<T>());
  return static_cast<const T*>(data_);
}
template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, std::vector<int64_t> shape) {
  Tensor t(dtype_of<T>(), std::move(shape));
  if (static_cast<size_t>(t.numel()) != values.size())
    throw std::invalid_argument("Tensor::from_vector: " + std::to_string(values.size()) +
                                " values do not fill shape " + t.shape_str());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

}  // namespace embedflow
