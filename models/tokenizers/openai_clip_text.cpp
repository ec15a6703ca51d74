#include "models/tokenizers/openai_clip_text.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <utf8proc.h>

#include "models/tokenizers/unicode.h"

namespace embedflow::tokenizers {
namespace {

using Text = std::vector<char32_t>;

// ---- Windows-1252 ---------------------------------------------------------------------------

// Characters of bytes 0x80..0x9F (0 where Windows-1252 leaves the byte undefined).
constexpr char32_t kCp1252High[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

// The byte a mis-decoded character stood for: Latin-1 for U+0000..U+00FF (which keeps the bytes
// Windows-1252 leaves undefined), else Windows-1252's upper half. -1 when there is none.
int sloppy_cp1252_byte(char32_t c) {
  if (c < 0x100) return static_cast<int>(c);
  for (int i = 0; i < 32; ++i)
    if (kCp1252High[i] == c) return 0x80 + i;
  return -1;
}

// ---- the ftfy subset ------------------------------------------------------------------------

Text remove_terminal_escapes(const Text& in) {
  Text out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == 0x1B && i + 1 < in.size() && in[i + 1] == '[') {
      size_t j = i + 2;
      while (j < in.size() && ((in[j] >= '0' && in[j] <= '9') || in[j] == ';')) ++j;
      if (j < in.size() && ((in[j] >= 'a' && in[j] <= 'z') || (in[j] >= 'A' && in[j] <= 'Z'))) {
        i = j;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

// Decodes `n` bytes as one strict UTF-8 sequence (no overlong forms, surrogates or values past
// U+10FFFF); returns false when they are not one.
bool decode_utf8_sequence(const int* b, int n, char32_t& cp) {
  for (int k = 1; k < n; ++k)
    if (b[k] < 0x80 || b[k] > 0xBF) return false;
  if (n == 2) {
    cp = ((b[0] & 0x1F) << 6) | (b[1] & 0x3F);
    return cp >= 0x80;
  }
  if (n == 3) {
    cp = ((b[0] & 0x0F) << 12) | ((b[1] & 0x3F) << 6) | (b[2] & 0x3F);
    return cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
  }
  cp = ((b[0] & 0x07) << 18) | ((b[1] & 0x3F) << 12) | ((b[2] & 0x3F) << 6) | (b[3] & 0x3F);
  return cp >= 0x10000 && cp <= 0x10FFFF;
}

// One pass of mojibake repair. Only sequences unlikely in genuine text are decoded: a 2-byte
// sequence led by Â or Ã (it decodes to U+0080..U+00FF, the usual "cafÃ©"), or any 3-/4-byte
// sequence ("â€™"). Other 2-byte leads are real letters too often ("Fuß“").
Text fix_mojibake_once(const Text& in) {
  Text out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    int lead = sloppy_cp1252_byte(in[i]);
    int n = (lead >= 0xC2 && lead <= 0xDF)   ? 2
            : (lead >= 0xE0 && lead <= 0xEF) ? 3
            : (lead >= 0xF0 && lead <= 0xF4) ? 4
                                             : 0;
    if (n == 2 && lead != 0xC2 && lead != 0xC3) n = 0;
    if (n > 0 && i + n <= in.size()) {
      int bytes[4] = {lead, -1, -1, -1};
      for (int k = 1; k < n; ++k) bytes[k] = sloppy_cp1252_byte(in[i + k]);
      char32_t cp = 0;
      if (decode_utf8_sequence(bytes, n, cp)) {
        out.push_back(cp);
        i += n;
        continue;
      }
    }
    out.push_back(in[i]);
    ++i;
  }
  return out;
}

const char* ligature(char32_t c) {
  switch (c) {
    case 0xFB00:
      return "ff";
    case 0xFB01:
      return "fi";
    case 0xFB02:
      return "fl";
    case 0xFB03:
      return "ffi";
    case 0xFB04:
      return "ffl";
    case 0xFB05:
      return "st";
    case 0xFB06:
      return "st";
    case 0x0132:
      return "IJ";
    case 0x0133:
      return "ij";
    case 0x01C4:
      return "D\xC5\xBD";  // DŽ
    case 0x01C5:
      return "D\xC5\xBE";  // Dž
    case 0x01C6:
      return "d\xC5\xBE";  // dž
    case 0x01C7:
      return "LJ";
    case 0x01C8:
      return "Lj";
    case 0x01C9:
      return "lj";
    case 0x01CA:
      return "NJ";
    case 0x01CB:
      return "Nj";
    case 0x01CC:
      return "nj";
    default:
      return nullptr;
  }
}

// The control characters ftfy removes (tab, newlines and form feed stay: they are whitespace).
bool is_removed_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
         (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC) ||
         (c >= 0x1D173 && c <= 0x1D17A) || (c >= 0xE0000 && c <= 0xE007F);
}

std::string nfc(const std::string& s) {
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
      &mapped, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw std::invalid_argument(std::string("NFC: ") + utf8proc_errmsg(n));
  std::string out(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
  std::free(mapped);
  return out;
}

// ---- html.unescape --------------------------------------------------------------------------

struct Entity {
  const char* name;
  const char* value;
};
constexpr Entity kEntities[] = {
#include "models/tokenizers/openai_clip_html_entities.inc"
};

const char* find_entity(const std::string& name) {
  auto it = std::lower_bound(std::begin(kEntities), std::end(kEntities), name,
                             [](const Entity& e, const std::string& n) { return e.name < n; });
  if (it != std::end(kEntities) && name == it->name) return it->value;
  return nullptr;
}

// Python's html._invalid_codepoints: references to these produce nothing.
bool is_invalid_codepoint(uint64_t n) {
  return (n >= 0x1 && n <= 0x8) || n == 0xB || (n >= 0xE && n <= 0x1F) ||
         (n >= 0x7F && n <= 0x9F) || (n >= 0xFDD0 && n <= 0xFDEF) ||
         ((n & 0xFFFE) == 0xFFFE && n <= 0x10FFFF);
}

// A numeric reference's text, as html.unescape maps it.
std::string numeric_reference(uint64_t n) {
  std::string out;
  if (n == 0) return "\xEF\xBF\xBD";
  if (n == 0x0D) return "\r";
  if (n >= 0x80 && n <= 0x9F) {  // Windows-1252, undefined bytes kept as C1 controls
    char32_t c = kCp1252High[n - 0x80];
    append_utf8(out, c ? c : static_cast<char32_t>(n));
    return out;
  }
  if ((n >= 0xD800 && n <= 0xDFFF) || n > 0x10FFFF) return "\xEF\xBF\xBD";
  if (is_invalid_codepoint(n)) return "";
  append_utf8(out, static_cast<char32_t>(n));
  return out;
}

bool is_ascii_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
bool is_ascii_hex(char32_t c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
uint64_t saturating_digit(uint64_t n, int base, int digit) {
  constexpr uint64_t kCap = 0x110000;  // anything above U+10FFFF maps the same
  n = n * base + digit;
  return n > kCap ? kCap : n;
}

// ---- case and whitespace --------------------------------------------------------------------

// Unicode White_Space: what Python's `regex` module matches with \s.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}
// Python str.strip() also strips the information separators U+001C..U+001F.
bool is_py_space(char32_t c) {
  return is_white_space(c) || (c >= 0x1C && c <= 0x1F);
}

bool is_cased(char32_t c) {
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
         cat == UTF8PROC_CATEGORY_LT || utf8proc_islower(static_cast<utf8proc_int32_t>(c)) ||
         utf8proc_isupper(static_cast<utf8proc_int32_t>(c));
}
bool is_case_ignorable(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      // Word_Break MidLetter / MidNumLet / Single_Quote.
      return c == '\'' || c == '.' || c == ':' || c == 0xB7 || c == 0x2018 || c == 0x2019 ||
             c == 0x2024 || c == 0x2027 || c == 0xFE13 || c == 0xFE52 || c == 0xFE55 ||
             c == 0xFF07 || c == 0xFF0E || c == 0xFF1A || c == 0x387 || c == 0x5F4;
  }
}

// Python's str.lower(): simple lower-case mappings plus the two context rules it applies
// (İ → i + combining dot, and final sigma).
std::string py_lower(const Text& in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char32_t c = in[i];
    if (c == 0x130) {
      out += "i\xCC\x87";
      continue;
    }
    if (c == 0x3A3) {
      size_t j = i;
      while (j > 0 && is_case_ignorable(in[j - 1])) --j;
      bool final_sigma = j > 0 && is_cased(in[j - 1]);
      if (final_sigma) {
        size_t k = i + 1;
        while (k < in.size() && is_case_ignorable(in[k])) ++k;
        final_sigma = k == in.size() || !is_cased(in[k]);
      }
      append_utf8(out, final_sigma ? 0x3C2 : 0x3C3);
      continue;
    }
    append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
  }
  return out;
}

}  // namespace

namespace {

bool is_ascii_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// ftfy's own HTML pass: only well-formed references "&name;" / "&#123;" / "&#x7b;" (at most 24
// letters or digits, semicolon required); anything it does not understand stays as written.
std::string ftfy_unescape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '&') {
      size_t j = i + 1;
      bool numeric = j < s.size() && s[j] == '#';
      if (numeric) ++j;
      size_t k = j;
      while (k < s.size() && k - j < 24 && is_ascii_alnum(s[k])) ++k;
      if (k > j && k < s.size() && s[k] == ';') {
        const std::string ref = s.substr(i, k + 1 - i);
        std::string replaced = ref;
        if (numeric) {
          std::string unescaped = html_unescape(ref);
          if (unescaped.find(';') == std::string::npos) replaced = unescaped;
        } else if (const char* v = find_entity(ref.substr(1))) {
          replaced = v;
        }
        out += replaced;
        i = k + 1;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

// One round of the fixes after the HTML pass, on code points.
std::string fix_round(const std::string& utf8) {
  Text t = decode_utf8(utf8);
  for (int depth = 0; depth < 3; ++depth) {
    Text fixed = fix_mojibake_once(t);
    if (fixed == t) break;
    t = std::move(fixed);
  }
  Text mapped;
  mapped.reserve(t.size());
  for (char32_t c : t) {
    if (c >= 0x80 && c <= 0x9F && kCp1252High[c - 0x80]) c = kCp1252High[c - 0x80];
    if (const char* lig = ligature(c)) {
      for (char32_t l : decode_utf8(lig)) mapped.push_back(l);
      continue;
    }
    if (c >= 0xFF01 && c <= 0xFF5E) c -= 0xFEE0;
    if (c == 0x3000) c = ' ';
    if (c >= 0x2018 && c <= 0x201B) c = '\'';
    if (c >= 0x201C && c <= 0x201F) c = '"';
    mapped.push_back(c);
  }
  std::string out;
  out.reserve(mapped.size());
  for (char32_t c : remove_terminal_escapes(mapped))
    if (!is_removed_control(c)) append_utf8(out, c);
  return nfc(out);
}

}  // namespace

std::string clip_fix_text(const std::string& utf8) {
  // Refused before any repair: ftfy_unescape works on bytes, so "\xC3&#2;\xA9" would come out
  // as a valid "é" (found by clip_bpe_fuzz); invalid input must be an error, as everywhere else.
  decode_utf8(utf8);
  // ftfy leaves entities alone in text that may be markup.
  const bool unescape = utf8.find('<') == std::string::npos;
  std::string text = utf8;
  for (int round = 0; round < 10; ++round) {  // like ftfy: until nothing changes
    std::string fixed = fix_round(unescape ? ftfy_unescape(text) : text);
    if (fixed == text) break;
    text = std::move(fixed);
  }
  return text;
}

std::string html_unescape(const std::string& utf8) {
  if (utf8.find('&') == std::string::npos) return utf8;
  const Text t = decode_utf8(utf8);
  std::string out;
  out.reserve(utf8.size());
  size_t i = 0;
  while (i < t.size()) {
    if (t[i] != '&') {
      append_utf8(out, t[i++]);
      continue;
    }
    size_t j = i + 1;
    if (j < t.size() && t[j] == '#') {
      // &#123; or &#x7B; (the semicolon is optional)
      bool hex = j + 1 < t.size() && (t[j + 1] == 'x' || t[j + 1] == 'X');
      size_t k = j + (hex ? 2 : 1);
      uint64_t n = 0;
      size_t digits_start = k;
      while (k < t.size() && (hex ? is_ascii_hex(t[k]) : is_ascii_digit(t[k]))) {
        char32_t d = t[k];
        int v = is_ascii_digit(d) ? d - '0' : (d | 0x20) - 'a' + 10;
        n = saturating_digit(n, hex ? 16 : 10, v);
        ++k;
      }
      if (k > digits_start) {
        if (k < t.size() && t[k] == ';') ++k;
        out += numeric_reference(n);
        i = k;
        continue;
      }
      // "&#" without digits: not a reference; "#" cannot start a name either.
      out += '&';
      ++i;
      continue;
    }
    // Named: up to 32 characters that are not tab, newline, form feed, space, '<', '&', '#', ';',
    // then an optional ';'.
    size_t k = j;
    while (k < t.size() && k - j < 32 && t[k] != '\t' && t[k] != '\n' && t[k] != '\f' &&
           t[k] != ' ' && t[k] != '<' && t[k] != '&' && t[k] != '#' && t[k] != ';')
      ++k;
    if (k == j) {
      out += '&';
      ++i;
      continue;
    }
    if (k < t.size() && t[k] == ';') ++k;
    const Text name(t.begin() + static_cast<std::ptrdiff_t>(j),
                    t.begin() + static_cast<std::ptrdiff_t>(k));
    const std::string name_utf8 = encode_utf8(name);
    if (const char* v = find_entity(name_utf8)) {
      out += v;
    } else {
      // The longest prefix (of at least two characters) that is a legacy, semicolon-free name.
      bool found = false;
      for (size_t len = name.size() - 1; len > 1; --len) {
        const Text prefix(name.begin(), name.begin() + static_cast<std::ptrdiff_t>(len));
        if (const char* v = find_entity(encode_utf8(prefix))) {
          out += v;
          out += encode_utf8(Text(name.begin() + static_cast<std::ptrdiff_t>(len), name.end()));
          found = true;
          break;
        }
      }
      if (!found) {
        out += '&';
        out += name_utf8;
      }
    }
    i = k;
  }
  return out;
}

std::string clip_clean_text(const std::string& utf8) {
  std::string s = clip_fix_text(utf8);
  s = html_unescape(html_unescape(s));
  // strip, collapse \s+ to one space, strip again (the first strip also removes U+001C..U+001F
  // at the ends, as Python's str.strip does)
  const Text t = decode_utf8(s);
  size_t b = 0, e = t.size();
  while (b < e && is_py_space(t[b])) ++b;
  while (e > b && is_py_space(t[e - 1])) --e;
  Text collapsed;
  collapsed.reserve(e - b);
  for (size_t i = b; i < e; ++i) {
    if (is_white_space(t[i])) {
      if (collapsed.empty() || collapsed.back() != ' ') collapsed.push_back(' ');
      while (i + 1 < e && is_white_space(t[i + 1])) ++i;
    } else {
      collapsed.push_back(t[i]);
    }
  }
  while (!collapsed.empty() && is_py_space(collapsed.back())) collapsed.pop_back();
  size_t lead = 0;
  while (lead < collapsed.size() && is_py_space(collapsed[lead])) ++lead;
  collapsed.erase(collapsed.begin(), collapsed.begin() + static_cast<std::ptrdiff_t>(lead));
  return py_lower(collapsed);
}

}  // namespace embedflow::tokenizers
