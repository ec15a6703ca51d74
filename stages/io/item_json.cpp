#include "stages/io/item_json.h"

#include <charconv>
#include <cmath>

namespace embedflow::io {

std::string json_text(const Json& v) {
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void append_number(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_values(std::string& out, const Tensor& t) {
  out += '[';
  int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (i) out += ',';
    switch (t.dtype()) {
      case DType::F32:
        append_number(out, t.data<float>()[i]);
        break;
      case DType::U8:
        out += std::to_string(t.data<uint8_t>()[i]);
        break;
      case DType::I64:
        out += std::to_string(t.data<int64_t>()[i]);
        break;
    }
  }
  out += ']';
}

std::string shape_json(const Tensor& t) {
  std::string s = "[";
  for (size_t i = 0; i < t.shape().size(); ++i) s += (i ? "," : "") + std::to_string(t.shape()[i]);
  return s + "]";
}

}  // namespace embedflow::io
