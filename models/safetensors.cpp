#include "models/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace embedflow::models {

namespace {

using Json = nlohmann::json;

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// a * b, or false on overflow.
bool mul_overflows(size_t a, size_t b, size_t& out) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) return true;
  out = a * b;
  return false;
}

// Unmaps when the last reference goes away.
struct Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr && size) munmap(addr, size);
  }
};

}  // namespace

size_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
      {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw ModelError(path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelError(path + ": not a regular file");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<size_t>(st.st_size);
  if (mapping->size > 0) {
    // MAP_PRIVATE + PROT_WRITE: copy-on-write, so torch tensors that alias the mapping may be
    // modified in place (BatchNorm folding) without writing to the file.
    void* addr = mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw ModelError(path + ": cannot memory-map: " + std::strerror(err));
    }
    mapping->addr = addr;
  }
  ::close(fd);

  std::shared_ptr<SafeTensorsFile> f(new SafeTensorsFile());
  f->path_ = path;
  f->size_ = mapping->size;
  f->bytes_ = static_cast<const uint8_t*>(mapping->addr);
  f->owner_ = std::shared_ptr<const void>(mapping, mapping->addr);
  f->writable_ = true;
  f->parse_header();
  return f;
}

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::parse(std::string name,
                                                        std::shared_ptr<const void> bytes,
                                                        size_t size) {
  std::shared_ptr<SafeTensorsFile> f(new SafeTensorsFile());
  f->path_ = std::move(name);
  f->bytes_ = static_cast<const uint8_t*>(bytes.get());
  f->size_ = bytes ? size : 0;
  f->owner_ = std::move(bytes);
  f->writable_ = false;
  f->parse_header();
  return f;
}

const SafeTensorInfo* SafeTensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafeTensorsFile::parse_header() {
  auto fail = [&](const std::string& what) { throw ModelError(path_ + ": " + what); };

  if (size_ < 8)
    fail("not a safetensors file: " + std::to_string(size_) +
         " bytes, shorter than the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes_[i];
  if (header_len > kMaxHeaderBytes)
    fail("not a safetensors file: header length " + std::to_string(header_len) +
         " exceeds the limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
  if (header_len > size_ - 8)
    fail("truncated: header length " + std::to_string(header_len) + " but only " +
         std::to_string(size_ - 8) + " bytes follow");
  if (header_len < 2 || bytes_[8] != '{')
    fail("not a safetensors file: header is not a JSON object");

  const char* text = reinterpret_cast<const char*>(bytes_ + 8);
  Json header;
  try {
    header = Json::parse(text, text + header_len);
  } catch (const Json::exception& e) {
    fail(std::string("invalid JSON header: ") + e.what());
  }
  if (!header.is_object()) fail("invalid header: expected a JSON object");

  const size_t data_start = 8 + static_cast<size_t>(header_len);
  const size_t data_size = size_ - data_start;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const Json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("invalid header: __metadata__ must be an object of strings");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string())
          fail("invalid header: __metadata__ value '" + m.key() + "' is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { fail("tensor '" + name + "': " + what); };
    if (!entry.is_object()) bad("header entry is not an object");

    SafeTensorInfo t;
    t.name = name;
    auto dt = entry.find("dtype");
    if (dt == entry.end() || !dt->is_string()) bad("missing or non-string 'dtype'");
    t.dtype = dt->get<std::string>();
    const size_t elem = safetensors_dtype_size(t.dtype);
    if (elem == 0) bad("unknown dtype '" + t.dtype + "'");

    auto sh = entry.find("shape");
    if (sh == entry.end() || !sh->is_array()) bad("missing or non-array 'shape'");
    size_t numel = 1;
    for (const Json& d : *sh) {
      if (!d.is_number_unsigned())  // the parser stores every non-negative integer as unsigned
        bad("shape " + sh->dump() + " has an entry that is not a non-negative integer");
      const uint64_t v = d.get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          mul_overflows(numel, static_cast<size_t>(v), numel))
        bad("shape " + sh->dump() + " is too large");
      t.shape.push_back(static_cast<int64_t>(v));
    }
    size_t expected_bytes = 0;
    if (mul_overflows(numel, elem, expected_bytes)) bad("shape " + sh->dump() + " is too large");

    auto off = entry.find("data_offsets");
    if (off == entry.end() || !off->is_array() || off->size() != 2 ||
        !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      bad("'data_offsets' must be two non-negative integers [begin, end]");
    const uint64_t begin = (*off)[0].get<uint64_t>();
    const uint64_t end = (*off)[1].get<uint64_t>();
    if (begin > end)
      bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
          "] end before begin");
    if (end > data_size)
      bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
          "] run past the end of the data (" + std::to_string(data_size) +
          " bytes; file truncated?)");
    if (end - begin != expected_bytes)
      bad("shape " + shape_str(t.shape) + " x " + t.dtype + " is " +
          std::to_string(expected_bytes) + " bytes but data_offsets span " +
          std::to_string(end - begin));
    t.offset = data_start + static_cast<size_t>(begin);
    t.nbytes = static_cast<size_t>(end - begin);
    index_[name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  // Byte ranges must not overlap (empty tensors occupy nothing).
  std::vector<const SafeTensorInfo*> by_offset;
  for (const auto& t : tensors_)
    if (t.nbytes) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafeTensorInfo* a, const SafeTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const SafeTensorInfo* prev = by_offset[i - 1];
    if (prev->offset + prev->nbytes > by_offset[i]->offset)
      fail("tensors '" + prev->name + "' and '" + by_offset[i]->name +
           "' have overlapping data_offsets");
  }
  // File order = data order, the order people expect in `inspect`.
  std::stable_sort(
      tensors_.begin(), tensors_.end(),
      [](const SafeTensorInfo& a, const SafeTensorInfo& b) { return a.offset < b.offset; });
  index_.clear();
  for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

}  // namespace embedflow::models
