#include "models/tokenizers/unicode.h"

#include <stdexcept>

#include <utf8proc.h>

namespace embedflow::tokenizers {

std::vector<char32_t> decode_utf8(const std::string& s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  size_t offset = 0;
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n < 0)
      throw std::invalid_argument("invalid UTF-8 at byte " + std::to_string(offset));
    out.push_back(static_cast<char32_t>(cp));
    p += n;
    left -= n;
    offset += static_cast<size_t>(n);
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  utf8proc_uint8_t buf[4];
  utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string encode_utf8(const std::vector<char32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) append_utf8(out, cp);
  return out;
}

bool is_valid_utf8(const std::string& s) {
  try {
    decode_utf8(s);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

}  // namespace embedflow::tokenizers
