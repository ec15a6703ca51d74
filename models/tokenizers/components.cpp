// The JSON helpers of the component factories and NormalizedText's conversions (components.h).
#include "models/tokenizers/components.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "models/tokenizers/unicode.h"

namespace embedflow::tokenizers {

const Json& require_object(const Json& value, const JsonSite& site) {
  if (!value.is_object()) site.fail("expected an object, found " + std::string(value.type_name()));
  return value;
}

const Json& require_field(const Json& object, std::string_view key, const JsonSite& site) {
  require_object(object, site);
  auto it = object.find(std::string(key));
  if (it == object.end()) site.at(key).fail("missing field");
  return *it;
}

std::string string_field(const Json& object, std::string_view key, const JsonSite& site) {
  const Json& value = require_field(object, key, site);
  if (!value.is_string())
    site.at(key).fail("expected a string, found " + std::string(value.type_name()));
  return value.get<std::string>();
}

bool bool_field(const Json& object, std::string_view key, const JsonSite& site, bool fallback) {
  require_object(object, site);
  auto it = object.find(std::string(key));
  if (it == object.end()) return fallback;
  if (!it->is_boolean())
    site.at(key).fail("expected a boolean, found " + std::string(it->type_name()));
  return it->get<bool>();
}

void reject_unknown_fields(const Json& object, std::initializer_list<std::string_view> known,
                           const JsonSite& site) {
  require_object(object, site);
  for (const auto& [key, value] : object.items()) {
    if (key == "type") continue;
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    if (!ok) site.at(key).fail("unknown option \"" + key + "\"");
  }
}

NormalizedText NormalizedText::from_utf8(std::string_view utf8, uint32_t base) {
  NormalizedText text;
  text.chars.reserve(utf8.size());
  text.align.reserve(utf8.size());
  const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
  const size_t n = utf8.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    size_t len = 0;
    char32_t c = 0, min = 0;
    if (b < 0x80) {
      len = 1;
      c = b;
    } else if (b >= 0xC2 && b < 0xE0) {
      len = 2;
      c = b & 0x1F;
      min = 0x80;
    } else if (b >= 0xE0 && b < 0xF0) {
      len = 3;
      c = b & 0x0F;
      min = 0x800;
    } else if (b >= 0xF0 && b < 0xF5) {
      len = 4;
      c = b & 0x07;
      min = 0x10000;
    }
    bool ok = len != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (p[i + k] & 0xC0) == 0x80;
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    ok = ok && c >= min && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    if (!ok) throw std::invalid_argument("invalid UTF-8 at byte " + std::to_string(base + i));
    text.chars.push_back(c);
    text.align.emplace_back(base + static_cast<uint32_t>(i), base + static_cast<uint32_t>(i + len));
    i += len;
  }
  return text;
}

std::string NormalizedText::utf8() const {
  std::string out;
  out.reserve(chars.size());
  for (char32_t c : chars) append_utf8(out, c);
  return out;
}

NormalizedText NormalizedText::slice(size_t begin, size_t end) const {
  NormalizedText out;
  out.chars = chars.substr(begin, end - begin);
  out.align.assign(align.begin() + static_cast<std::ptrdiff_t>(begin),
                   align.begin() + static_cast<std::ptrdiff_t>(end));
  return out;
}

double hf_json_f64(double value) {
  if (!std::isfinite(value) || value == 0.0) return value;
  // The shortest text that reads back as `value`: what serde_json (ryu) or Python wrote.
  char text[64];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  if (ec != std::errc()) return value;
  const char* p = text;
  const bool negative = *p == '-';
  if (negative) ++p;
  uint64_t significand = 0;
  int exponent = 0;
  bool fraction = false;
  for (; p < end && *p != 'e'; ++p) {
    if (*p == '.') {
      fraction = true;
      continue;
    }
    significand = significand * 10 + static_cast<uint64_t>(*p - '0');  // <= 17 digits: no overflow
    if (fraction) --exponent;
  }
  if (p < end && *p == 'e') exponent += std::atoi(p + 1);
  // serde_json's f64_from_parts: the significand as a double, then one multiplication or
  // division by an exact power of ten (the table reaches 1e308; beyond, steps of 1e308).
  static const std::array<double, 309> kPow10 = [] {
    std::array<double, 309> t{};  // correctly rounded, as Rust's literal table is
    for (size_t i = 0; i < t.size(); ++i) t[i] = std::stod("1e" + std::to_string(i));
    return t;
  }();
  double f = static_cast<double>(significand);
  for (;;) {
    const int magnitude = exponent < 0 ? -exponent : exponent;
    if (magnitude <= 308) {
      const double pow10 = kPow10[static_cast<size_t>(magnitude)];
      f = exponent >= 0 ? f * pow10 : f / pow10;
      break;
    }
    if (exponent >= 0) return value;  // out of range: serde refuses it; keep what we read
    f /= 1e308;
    exponent += 308;
  }
  return negative ? -f : f;
}

}  // namespace embedflow::tokenizers
