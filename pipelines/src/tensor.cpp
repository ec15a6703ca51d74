#include "embedflow/tensor.h"

#include <cstdlib>
#include <cstring>
#include <numeric>

#include "embedflow/block_cache.h"

namespace embedflow {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::U8:
      return 1;
    case DType::I64:
      return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "float32";
    case DType::U8:
      return "uint8";
    case DType::I64:
      return "int64";
  }
  return "?";
}

static int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("Tensor: negative dimension");
    n *= d;
  }
  return n;
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  size_t bytes = static_cast<size_t>(product(shape_)) * dtype_size(dtype_);
  size_t alloc = ((bytes + 63) / 64) * 64;
  if (alloc == 0) alloc = 64;  // zero-size tensors still get storage, so defined() holds
  void* p;
  if (alloc >= BlockCache::kMinBlock) {
    // Large buffers are reused, not mapped and faulted in again (block_cache.h).
    p = BlockCache::instance().take(alloc);
    owner_ = std::shared_ptr<void>(p, [](void* q) { BlockCache::instance().give_back(q); });
  } else {
    p = std::aligned_alloc(64, alloc);
    if (!p) throw std::bad_alloc();
    owner_ = std::shared_ptr<void>(p, std::free);
  }
  std::memset(p, 0, alloc);
  data_ = p;
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape, std::shared_ptr<void> owner, void* data)
    : dtype_(dtype), shape_(std::move(shape)), owner_(std::move(owner)), data_(data) {
  product(shape_);
}

int64_t Tensor::dim(int64_t i) const {
  int64_t n = ndim();
  if (i < 0) i += n;
  if (i < 0 || i >= n)
    throw std::out_of_range("Tensor::dim: index out of range for " + shape_str());
  return shape_[static_cast<size_t>(i)];
}

int64_t Tensor::numel() const {
  return shape_.empty() && !data_ ? 0 : product(shape_);
}

void Tensor::check_dtype(DType want) const {
  if (want != dtype_)
    throw std::logic_error(std::string("Tensor holds ") + dtype_name(dtype_) + ", not " +
                           dtype_name(want));
}

Tensor Tensor::reshape(std::vector<int64_t> shape) const {
  if (product(shape) != numel())
    throw std::invalid_argument("Tensor::reshape: cannot view " + shape_str() + " with " +
                                std::to_string(product(shape)) + " elements");
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  if (!data_) return Tensor();
  Tensor t(dtype_, shape_);
  std::memcpy(t.data_, data_, nbytes());
  return t;
}

std::string Tensor::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape_.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape_[i]);
  }
  return s + "]";
}

}  // namespace embedflow
