#include "models/tokenizers/python_text.h"

#include <utf8proc.h>

#include "models/tokenizers/unicode.h"

namespace embedflow::tokenizers {

std::string strip_python_whitespace(const std::string& text) {
  auto is_space = [](char32_t cp) {
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
  };
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  auto size = static_cast<utf8proc_ssize_t>(text.size());
  // Leading: walk forward while whitespace.
  utf8proc_ssize_t begin = 0;
  while (begin < size) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(s + begin, size - begin, &cp);
    if (n < 0 || !is_space(static_cast<char32_t>(cp))) break;
    begin += n;
  }
  // Trailing: step back over whole characters (continuation bytes are 10xxxxxx).
  utf8proc_ssize_t end = size;
  while (end > begin) {
    utf8proc_ssize_t start = end - 1;
    while (start > begin && (s[start] & 0xC0) == 0x80) --start;
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(s + start, end - start, &cp);
    if (n != end - start || !is_space(static_cast<char32_t>(cp))) break;
    end = start;
  }
  return text.substr(static_cast<size_t>(begin), static_cast<size_t>(end - begin));
}

std::string python_lower(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : decode_utf8(text)) {
    if (cp == 0x130) {
      append_utf8(out, U'i');
      append_utf8(out, 0x307);
    } else {
      append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
    }
  }
  return out;
}

}  // namespace embedflow::tokenizers
