#include "embedflow/npy.h"

#include <cstring>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace embedflow {

static const char* npy_descr(DType t) {
  switch (t) {
    case DType::F32:
      return "<f4";
    case DType::U8:
      return "|u1";
    case DType::I64:
      return "<i8";
  }
  return "?";
}

std::string npy_header(DType dtype, const std::vector<int64_t>& shape, size_t min_size) {
  std::string dict =
      std::string("{'descr': '") + npy_descr(dtype) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  size_t total = 10 + dict.size() + 1;  // magic(6) + version(2) + len(2) + dict + '\n'
  size_t padded = std::max(((total + 63) / 64) * 64, ((min_size + 63) / 64) * 64);
  dict.append(padded - total, ' ');
  dict += '\n';
  std::string h = "\x93NUMPY";
  h += '\x01';
  h += '\x00';
  uint16_t len = static_cast<uint16_t>(dict.size());
  h += static_cast<char>(len & 0xff);
  h += static_cast<char>(len >> 8);
  return h + dict;
}

void write_npy(const std::string& path, const Tensor& t) {
  AtomicFile f(path);
  f.write(npy_header(t.dtype(), t.shape()));
  f.write(t.raw(), t.nbytes());
  f.commit();
}

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  char magic[10];
  if (!in.read(magic, 10) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw std::runtime_error(path + ": not an .npy file");
  size_t hlen = static_cast<unsigned char>(magic[8]) | (static_cast<unsigned char>(magic[9]) << 8);
  if (magic[6] != 1) {  // version 2/3 use a 4-byte length
    char more[2];
    in.read(more, 2);
    hlen |= (static_cast<size_t>(static_cast<unsigned char>(more[0])) << 16) |
            (static_cast<size_t>(static_cast<unsigned char>(more[1])) << 24);
  }
  std::string dict(hlen, '\0');
  if (!in.read(dict.data(), static_cast<std::streamsize>(hlen)))
    throw std::runtime_error(path + ": truncated header");
  std::smatch m;
  if (!std::regex_search(dict, m, std::regex("'descr':\\s*'([^']+)'")))
    throw std::runtime_error(path + ": header has no descr");
  DType dtype;
  std::string descr = m[1];
  if (descr == "<f4")
    dtype = DType::F32;
  else if (descr == "|u1" || descr == "<u1")
    dtype = DType::U8;
  else if (descr == "<i8")
    dtype = DType::I64;
  else
    throw std::runtime_error(path + ": unsupported dtype " + descr);
  if (dict.find("'fortran_order': True") != std::string::npos)
    throw std::runtime_error(path + ": Fortran order is not supported");
  if (!std::regex_search(dict, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    throw std::runtime_error(path + ": header has no shape");
  std::vector<int64_t> shape;
  std::string dims = m[1];
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator();
       ++it)
    shape.push_back(std::stoll(it->str()));
  Tensor t(dtype, shape);
  if (!in.read(static_cast<char*>(t.raw_mut()), static_cast<std::streamsize>(t.nbytes())))
    throw std::runtime_error(path + ": truncated data");
  return t;
}

NpyStreamWriter::NpyStreamWriter(std::string path) : path_(std::move(path)), file_(path_) {}

void NpyStreamWriter::append(const Tensor& row) {
  if (!started_) {
    dtype_ = row.dtype();
    row_shape_ = row.shape();
    // Reserve room for a row count of up to 20 digits, so the header never grows.
    std::vector<int64_t> big = row_shape_;
    big.insert(big.begin(), INT64_MAX);
    file_.write(npy_header(dtype_, big));
    started_ = true;
  } else if (row.dtype() != dtype_ || row.shape() != row_shape_) {
    throw std::invalid_argument("row of shape " + row.shape_str() + " (" + dtype_name(row.dtype()) +
                                ") does not match the earlier rows' " +
                                Tensor(dtype_, row_shape_).shape_str() + " (" + dtype_name(dtype_) +
                                ")");
  }
  file_.write(row.raw(), row.nbytes());
  ++rows_;
}

std::string NpyStreamWriter::commit(bool complete) {
  std::vector<int64_t> shape = row_shape_;
  shape.insert(shape.begin(), rows_);
  if (!started_) {
    // No rows at all: the rows' declared shape with none of them, else float32 of shape (0,).
    std::vector<int64_t> empty = expected_shape_;
    empty.insert(empty.begin(), 0);
    file_.write(npy_header(expected_dtype_, empty));
  } else {
    std::vector<int64_t> big = row_shape_;
    big.insert(big.begin(), INT64_MAX);
    std::string h = npy_header(dtype_, shape, npy_header(dtype_, big).size());
    file_.pwrite(h.data(), h.size(), 0);
  }
  return file_.commit(complete);
}

}  // namespace embedflow
