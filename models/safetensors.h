// safetensors files (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw data.
// Files are memory-mapped and treated as untrusted: every header field is validated before any
// byte of tensor data is touched, so a damaged or hostile file is an error, never a crash.
// Torch-free; models/weights.h turns the tensors into torch tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace embedflow::models {

// Any problem with a model file. The message names the file and, where it applies, the tensor.
class ModelError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

struct SafeTensorInfo {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", ...
  std::vector<int64_t> shape;
  size_t offset = 0;  // absolute offset of the first byte in the file
  size_t nbytes = 0;
};

// Bytes per element of a safetensors dtype name, or 0 when the name is not a known dtype.
size_t safetensors_dtype_size(const std::string& dtype);

class SafeTensorsFile {
 public:
  // Header lengths above this are rejected (the reference implementation uses the same bound).
  static constexpr size_t kMaxHeaderBytes = 100u * 1024 * 1024;

  // Memory-maps `path` (copy-on-write, so tensors handed out without a copy can be modified in
  // place without touching the file). Throws ModelError.
  static std::shared_ptr<SafeTensorsFile> open(const std::string& path);
  // Validates an in-memory file; `name` is used in messages. `bytes` must stay valid for `size`
  // bytes while the returned object (or anything holding it) lives. Throws ModelError.
  static std::shared_ptr<SafeTensorsFile> parse(std::string name, std::shared_ptr<const void> bytes,
                                                size_t size);

  const std::string& path() const { return path_; }
  size_t file_size() const { return size_; }
  const std::vector<SafeTensorInfo>& tensors() const { return tensors_; }  // in file order
  const SafeTensorInfo* find(const std::string& name) const;
  const uint8_t* data(const SafeTensorInfo& t) const { return bytes_ + t.offset; }
  // The "__metadata__" string map (e.g. {"format": "pt"}).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // True when the memory may be written (a private file mapping); false for parse()d buffers.
  bool writable() const { return writable_; }

 private:
  SafeTensorsFile() = default;
  void parse_header();

  std::string path_;
  std::shared_ptr<const void> owner_;
  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  bool writable_ = false;
  std::vector<SafeTensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace embedflow::models
