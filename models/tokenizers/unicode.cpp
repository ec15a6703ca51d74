#include "models/tokenizers/unicode.h"

#include <algorithm>
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
    if (n < 0) throw std::invalid_argument("invalid UTF-8 at byte " + std::to_string(offset));
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

namespace embedflow::tokenizers {
namespace {

struct CodepointMapping {
  char32_t cp;
  uint32_t offset, length;  // into kMappingPool
};

#include "models/tokenizers/unicode_tables.inc"

template <size_t N>
bool in_ranges(const CodepointRange (&table)[N], char32_t c) {
  auto it = std::upper_bound(std::begin(table), std::end(table), c,
                             [](char32_t v, const CodepointRange& r) { return v < r.first; });
  return it != std::begin(table) && c <= std::prev(it)->last;
}

const CodepointMapping* find_in(const CodepointMapping* begin, const CodepointMapping* end,
                                char32_t c) {
  auto it = std::lower_bound(begin, end, c,
                             [](const CodepointMapping& m, char32_t v) { return m.cp < v; });
  return it != end && it->cp == c ? it : nullptr;
}

int combining_class(char32_t c) {
  if (std::binary_search(std::begin(kCccZeroExceptions), std::end(kCccZeroExceptions), c)) return 0;
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

// Appends the full decomposition of `c`, the first code point with change 0, the others 1.
void decompose(char32_t c, bool compat, int change, std::vector<std::pair<char32_t, int>>& out) {
  const CodepointMapping* m =
      compat ? find_in(std::begin(kCompatExceptions), std::end(kCompatExceptions), c)
             : find_in(std::begin(kCanonicalExceptions), std::end(kCanonicalExceptions), c);
  if (m) {
    for (uint32_t i = 0; i < m->length; ++i)
      out.emplace_back(kMappingPool[m->offset + i], i == 0 ? change : 1);
    return;
  }
  utf8proc_int32_t buf[32];
  int boundclass = 0;
  auto options =
      static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0));
  utf8proc_ssize_t n =
      utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 32, options, &boundclass);
  if (n <= 0 || n > 32) {
    out.emplace_back(c, change);
    return;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i)
    out.emplace_back(static_cast<char32_t>(buf[i]), i == 0 ? change : 1);
}

// The primary composite of <a, b> for HF, or 0.
char32_t compose_pair(char32_t a, char32_t b) {
  utf8proc_int32_t buf[2] = {static_cast<utf8proc_int32_t>(a), static_cast<utf8proc_int32_t>(b)};
  utf8proc_ssize_t n = utf8proc_normalize_utf32(buf, 2, UTF8PROC_COMPOSE);
  if (n != 1) return 0;
  auto p = static_cast<char32_t>(buf[0]);
  if (utf8proc_get_property(buf[0])->comp_exclusion) return 0;  // not applied by utf8proc here
  // A composite HF's tables do not decompose (newer than them) is not composed either.
  if (find_in(std::begin(kCanonicalExceptions), std::end(kCanonicalExceptions), p)) return 0;
  return p;
}

}  // namespace

const char* hf_tables_utf8proc_version() {
  return kTablesUtf8procVersion;
}

bool hf_bert_is_whitespace(char32_t c) {
  return in_ranges(kBertWhitespace, c);
}
bool hf_bert_is_control(char32_t c) {
  return in_ranges(kBertControl, c);
}
bool hf_bert_is_punctuation(char32_t c) {
  return in_ranges(kBertPunctuation, c);
}
bool hf_is_nonspacing_mark(char32_t c) {
  return in_ranges(kNonspacingMark, c);
}
bool hf_is_chinese_char(char32_t c) {
  return in_ranges(kChineseChar, c);
}
bool hf_is_combining_mark(char32_t c) {
  return in_ranges(kCombiningMark, c);
}

void hf_lowercase(char32_t c, std::u32string& out) {
  if (const CodepointMapping* m =
          find_in(std::begin(kLowercaseExceptions), std::end(kLowercaseExceptions), c)) {
    out.append(kMappingPool + m->offset, m->length);
    return;
  }
  out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

void hf_normalize(NormalizationForm form, const std::u32string& in,
                  std::vector<std::pair<char32_t, int>>& out) {
  const bool compat = form == NormalizationForm::NFKC || form == NormalizationForm::NFKD;
  const bool compose = form == NormalizationForm::NFC || form == NormalizationForm::NFKC;
  std::vector<std::pair<char32_t, int>> seq;
  seq.reserve(in.size() + in.size() / 4);
  for (char32_t c : in) decompose(c, compat, 0, seq);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  std::vector<int> ccc(seq.size());
  for (size_t i = 0; i < seq.size(); ++i) ccc[i] = combining_class(seq[i].first);
  for (size_t i = 0; i < seq.size();) {
    if (ccc[i] == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < seq.size() && ccc[j] != 0) ++j;
    if (j - i > 1) {
      std::vector<size_t> idx(j - i);
      for (size_t k = 0; k < idx.size(); ++k) idx[k] = i + k;
      std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return ccc[a] < ccc[b]; });
      std::vector<std::pair<char32_t, int>> run;
      std::vector<int> run_ccc;
      for (size_t k : idx) {
        run.push_back(seq[k]);
        run_ccc.push_back(ccc[k]);
      }
      std::copy(run.begin(), run.end(), seq.begin() + static_cast<std::ptrdiff_t>(i));
      std::copy(run_ccc.begin(), run_ccc.end(), ccc.begin() + static_cast<std::ptrdiff_t>(i));
    }
    i = j;
  }
  if (!compose) {
    out = std::move(seq);
    return;
  }
  // Canonical composition (UAX #15): a code point composes with the last starter when nothing
  // between them blocks it.
  out.clear();
  out.reserve(seq.size());
  size_t starter = SIZE_MAX;
  int last_ccc = -1;  // combining class of the last code point kept after the starter
  for (size_t i = 0; i < seq.size(); ++i) {
    const auto [c, change] = seq[i];
    const int cc = ccc[i];
    if (starter != SIZE_MAX && !(last_ccc != -1 && (last_ccc == 0 || last_ccc >= cc))) {
      if (char32_t p = compose_pair(out[starter].first, c)) {
        out[starter].first = p;
        out[starter].second += change - 1;
        continue;
      }
    }
    if (cc == 0) {
      starter = out.size();
      last_ccc = -1;
    } else {
      last_ccc = cc;
    }
    out.emplace_back(c, change);
  }
}

}  // namespace embedflow::tokenizers
