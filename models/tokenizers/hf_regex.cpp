// HfRegex on PCRE2's UTF-32 library: Oniguruma patterns (as HF writes them) are
// rewritten so that the classes whose tables differ (\s \w \d \h \p{..} and \b)
// become explicit code point sets swept from HF itself, then JIT-compiled.
// GPT-2's pattern gets a hand-written matcher.
#define PCRE2_CODE_UNIT_WIDTH 32
#include "models/tokenizers/hf_regex.h"

#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <iterator>
#include <stdexcept>

#include "models/tokenizers/hf_regex_internal.h"
#include "models/tokenizers/unicode.h"

namespace embedflow::tokenizers {
namespace detail {
namespace {

struct CodeRange {
  char32_t lo, hi;
};
struct NamedCodeSet {
  const char* name;
  const CodeRange* ranges;
  size_t size;
};

#include "models/tokenizers/unicode_regex_tables.inc"

const NamedCodeSet* find_set(std::string_view name) {
  for (const NamedCodeSet& s : kCodeSets)
    if (name == s.name) return &s;
  return nullptr;
}

// Two-level table of HfCharFlag bits: 256-code-point blocks, identical blocks
// shared.
class FlagTable {
 public:
  FlagTable() {
    std::vector<uint8_t> flat(0x110000, 0);
    auto mark = [&](const char* name, uint8_t bit) {
      const NamedCodeSet* s = find_set(name);
      for (size_t i = 0; i < s->size; ++i)
        for (char32_t c = s->ranges[i].lo; c <= s->ranges[i].hi; ++c) flat[c] |= bit;
    };
    mark("s", kOnigSpace);
    mark("L", kOnigLetter);
    mark("N", kOnigNumber);
    mark("rust_regex_word", kRustRegexWord);
    mark("rust_regex_space", kRustRegexSpace);
    mark("rust_whitespace", kRustWhitespace);
    mark("hf_punctuation", kHfPunctuation);
    mark("rust_numeric", kRustNumeric);
    index_.resize(0x110000 >> 8);
    for (size_t b = 0; b < index_.size(); ++b) {
      const uint8_t* block = flat.data() + (b << 8);
      size_t found = blocks_.size();
      for (size_t k = 0; k < blocks_.size(); k += 256)
        if (std::equal(block, block + 256, blocks_.begin() + k)) {
          found = k;
          break;
        }
      if (found == blocks_.size()) blocks_.insert(blocks_.end(), block, block + 256);
      index_[b] = static_cast<uint32_t>(found);
    }
  }
  uint8_t get(char32_t c) const {
    if (c >= 0x110000) return 0;
    return blocks_[index_[c >> 8] + (c & 0xFF)];
  }

 private:
  std::vector<uint32_t> index_;
  std::vector<uint8_t> blocks_;
};

const FlagTable& flag_table() {
  static const FlagTable table;
  return table;
}

// ---- GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
// ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ ----

size_t gpt2_match_at(const char32_t* t, size_t n, size_t i, const FlagTable& ft) {
  const char32_t c = t[i];
  if (c == U'\'' && i + 1 < n) {
    const char32_t d = t[i + 1];
    if (d == U's' || d == U't' || d == U'm' || d == U'd') return i + 2;
    if (i + 2 < n) {
      const char32_t e = t[i + 2];
      if ((d == U'r' && e == U'e') || (d == U'v' && e == U'e') || (d == U'l' && e == U'l'))
        return i + 3;
    }
  }
  // ` ?` then one of the three runs; the optional space is only worth taking
  // when a run follows.
  size_t j = (c == U' ' && i + 1 < n && !(ft.get(t[i + 1]) & kOnigSpace)) ? i + 1 : i;
  const uint8_t f = ft.get(t[j]);
  if (f & kOnigLetter) {
    while (j < n && (ft.get(t[j]) & kOnigLetter)) ++j;
    return j;
  }
  if (f & kOnigNumber) {
    while (j < n && (ft.get(t[j]) & kOnigNumber)) ++j;
    return j;
  }
  if (!(f & kOnigSpace)) {
    while (j < n && !(ft.get(t[j]) & (kOnigSpace | kOnigLetter | kOnigNumber))) ++j;
    return j;
  }
  // Whitespace at i: \s+(?!\S) leaves the last space to the next token when a
  // non-space follows.
  size_t k = i;
  while (k < n && (ft.get(t[k]) & kOnigSpace)) ++k;
  if (k == n || k - i == 1) return k;
  return k - 1;
}

// ---- Rewriting Oniguruma syntax for PCRE2 ----

using Ranges = std::vector<CodeRange>;

Ranges set_ranges(const NamedCodeSet& s) {
  return Ranges(s.ranges, s.ranges + s.size);
}

Ranges complement(const Ranges& r) {
  Ranges out;
  char32_t next = 0;
  for (const CodeRange& x : r) {
    if (x.lo > next) out.push_back({next, x.lo - 1});
    next = x.hi + 1;
  }
  if (next <= 0x10FFFF) out.push_back({next, 0x10FFFF});
  return out;
}

void append_hex(std::u32string& out, char32_t c) {
  static const char* digits = "0123456789abcdef";
  out += U"\\x{";
  char buf[8];
  int n = 0;
  do {
    buf[n++] = digits[c & 0xF];
    c >>= 4;
  } while (c);
  while (n) out += static_cast<char32_t>(buf[--n]);
  out += U'}';
}

// Class items for `r`, surrogates left out (PCRE2 refuses them in UTF mode).
void append_items(std::u32string& out, const Ranges& r) {
  for (CodeRange x : r) {
    std::array<CodeRange, 2> parts{x, CodeRange{1, 0}};
    if (x.lo <= 0xDFFF && x.hi >= 0xD800) {
      parts[0] = {x.lo, 0xD7FF};
      parts[1] = {0xE000, x.hi};
    }
    for (CodeRange p : parts) {
      if (p.lo > p.hi || p.hi < x.lo || p.lo > x.hi) continue;
      append_hex(out, p.lo);
      if (p.hi != p.lo) {
        out += U'-';
        append_hex(out, p.hi);
      }
    }
  }
}

std::string to_utf8(const std::u32string& s) {
  std::string out;
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

struct PropertyAlias {
  const char* alias;
  const char* name;
};
constexpr PropertyAlias kAliases[] = {
    {"letter", "L"},
    {"mark", "M"},
    {"number", "N"},
    {"punctuation", "P"},
    {"symbol", "S"},
    {"separator", "Z"},
    {"other", "C"},
    {"uppercaseletter", "Lu"},
    {"lowercaseletter", "Ll"},
    {"decimalnumber", "Nd"},
    {"unassigned", "Cn"},
    {"control", "Cc"},
};

std::string fold_name(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '_' && c != ' ' && c != '-') out += static_cast<char>(std::tolower(c));
  return out;
}

// The set \p{name} names, or nullptr.
const NamedCodeSet* property_set(const std::string& name) {
  const std::string folded = fold_name(name);
  for (const NamedCodeSet& s : kCodeSets) {
    std::string_view n = s.name;
    if (n == "s" || n == "w" || n == "d" || n.find('_') != std::string_view::npos) continue;
    if (fold_name(n) == folded) return &s;
  }
  for (const PropertyAlias& a : kAliases)
    if (folded == a.alias) return find_set(a.name);
  return nullptr;
}

bool case_closed(const NamedCodeSet* s) {
  std::string_view n = s ? s->name : "";
  return n != "Lu" && n != "Ll" && n != "Lt";
}

}  // namespace

uint8_t hf_char_flags(char32_t c) {
  return flag_table().get(c);
}

const char* const kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
    "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

std::u32string rewrite_onig_pattern(const std::u32string& p, const JsonSite& site) {
  auto fail = [&](const std::string& what) {
    site.fail("regex " + to_utf8(p) + ": " + what +
              " is not supported (its meaning differs "
              "between Oniguruma and PCRE2)");
  };
  std::u32string out;
  out.reserve(p.size() * 2);
  bool in_class = false;
  size_t class_start = 0;  // index in p just after "[" or "[^"
  const size_t n = p.size();
  size_t i = 0;
  // The code point set of the escape at p[i] ('\\' at i), or false when it is
  // not a set escape; advances i past it.
  auto set_escape = [&](Ranges& r, bool& case_sensitive) -> bool {
    if (i + 1 >= n) return false;
    const char32_t e = p[i + 1];
    case_sensitive = false;
    const char* name = nullptr;
    bool negate = false;
    switch (e) {
      case U's':
        name = "s";
        break;
      case U'S':
        name = "s";
        negate = true;
        break;
      case U'w':
        name = "w";
        break;
      case U'W':
        name = "w";
        negate = true;
        break;
      case U'd':
        name = "d";
        break;
      case U'D':
        name = "d";
        negate = true;
        break;
      case U'h':
      case U'H':
        r = {{U'0', U'9'}, {U'A', U'F'}, {U'a', U'f'}};
        if (e == U'H') r = complement(r);
        i += 2;
        return true;
      case U'p':
      case U'P': {
        if (i + 2 >= n || p[i + 2] != U'{') fail("\\p without braces");
        size_t close = p.find(U'}', i + 3);
        if (close == std::u32string::npos) fail("unterminated \\p{");
        std::string prop = to_utf8(p.substr(i + 3, close - (i + 3)));
        negate = e == U'P';
        if (!prop.empty() && prop[0] == '^') {
          negate = !negate;
          prop.erase(0, 1);
        }
        if (fold_name(prop) == "any") {
          r = {{0, 0x10FFFF}};
        } else {
          const NamedCodeSet* s = property_set(prop);
          if (!s) fail("\\p{" + prop + "}");
          r = set_ranges(*s);
          case_sensitive = !case_closed(s);
        }
        if (negate) r = complement(r);
        i = close + 1;
        return true;
      }
      default:
        return false;
    }
    // Oniguruma's \w inside a bracket class is not its \w outside (see the
    // generator).
    const NamedCodeSet* s = in_class ? find_set(std::string(name) + "_in_class") : nullptr;
    r = set_ranges(s ? *s : *find_set(name));
    if (negate) r = complement(r);
    i += 2;
    return true;
  };

  while (i < n) {
    const char32_t c = p[i];
    if (c == U'\\') {
      if (i + 1 >= n) fail("a trailing backslash");
      const char32_t e = p[i + 1];
      Ranges r;
      bool case_sensitive = false;
      if (set_escape(r, case_sensitive)) {
        if (in_class) {
          append_items(out, r);
        } else {
          out += case_sensitive ? U"(?-i:[" : U"[";
          append_items(out, r);
          out += case_sensitive ? U"])" : U"]";
        }
        continue;
      }
      if (e == U'u') {  // \uHHHH
        if (i + 6 > n) fail("a short \\u escape");
        char32_t v = 0;
        for (size_t k = i + 2; k < i + 6; ++k) {
          const char32_t h = p[k];
          int d = (h >= U'0' && h <= U'9')   ? int(h - U'0')
                  : (h >= U'a' && h <= U'f') ? int(h - U'a' + 10)
                  : (h >= U'A' && h <= U'F') ? int(h - U'A' + 10)
                                             : -1;
          if (d < 0) fail("a malformed \\u escape");
          v = v * 16 + static_cast<char32_t>(d);
        }
        append_hex(out, v);
        i += 6;
        continue;
      }
      if (!in_class && (e == U'b' || e == U'B')) {
        Ranges w = set_ranges(*find_set("w"));
        std::u32string cls;
        append_items(cls, w);
        const std::u32string word = U"[" + cls + U"]";
        if (e == U'b')
          out += U"(?:(?<=" + word + U")(?!" + word + U")|(?<!" + word + U")(?=" + word + U"))";
        else
          out += U"(?:(?<=" + word + U")(?=" + word + U")|(?<!" + word + U")(?!" + word + U"))";
        i += 2;
        continue;
      }
      if (e == U'Q' || e == U'E' || e == U'X' || e == U'K' || e == U'G' || e == U'O' || e == U'y' ||
          e == U'Y' || e == U'N' || e == U'l' || e == U'L' || e == U'U' || e == U'C' || e == U'V' ||
          e == U'v')
        fail(std::string("\\") + static_cast<char>(e));
      out.append(p, i, 2);
      i += 2;
      continue;
    }
    if (in_class) {
      if (c == U'[') fail("a nested class or POSIX bracket");
      if (c == U'&' && i + 1 < n && p[i + 1] == U'&') fail("class intersection (&&)");
      if (c == U']' && i != class_start) in_class = false;
      out += c;
      ++i;
      continue;
    }
    if (c == U'[') {
      in_class = true;
      out += c;
      ++i;
      if (i < n && p[i] == U'^') {
        out += U'^';
        ++i;
      }
      class_start = i;
      continue;
    }
    if (c == U'(' && i + 1 < n && p[i + 1] == U'?') {
      // Option groups: Oniguruma's (?m) is PCRE2's (?s).
      size_t k = i + 2;
      std::u32string flags;
      while (k < n && (p[k] == U'i' || p[k] == U'm' || p[k] == U'x' || p[k] == U'-' ||
                       std::isalpha(p[k] < 128 ? static_cast<int>(p[k]) : 0))) {
        flags += p[k];
        ++k;
      }
      if (!flags.empty() && k < n && (p[k] == U')' || p[k] == U':')) {
        out += U"(?";
        for (char32_t f : flags) {
          if (f == U'm')
            out += U's';
          else if (f == U'i' || f == U'x' || f == U'-')
            out += f;
          else
            fail(std::string("the option (?") + static_cast<char>(f) + ")");
        }
        i = k;
        continue;
      }
      out.append(p, i, 2);
      i += 2;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

// ---- PCRE2 ----

struct RegexProgram::Pcre {
  pcre2_code* code = nullptr;
  ~Pcre() { pcre2_code_free(code); }
};

namespace {

// Per-thread match data, match context and JIT stack (shared by every pattern
// of the thread).
struct ThreadMatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadMatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
    if (!data || !context || !stack) throw std::bad_alloc();
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

RegexProgram::RegexProgram(const std::string& pattern, const JsonSite& site) {
  if (pattern == kGpt2Pattern) return;
  std::u32string p;
  try {
    for (char32_t c : decode_utf8(pattern)) p += c;
  } catch (const std::invalid_argument& e) {
    site.fail(std::string("regex is not valid UTF-8: ") + e.what());
  }
  const std::u32string rewritten = rewrite_onig_pattern(p, site);
  pcre2_compile_context* cc = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_offset, cc);
  pcre2_compile_context_free(cc);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, 256);
    std::string msg;
    for (const PCRE2_UCHAR* q = buf; *q; ++q) append_utf8(msg, static_cast<char32_t>(*q));
    site.fail("regex " + pattern + " does not compile: " + msg);
  }
  pcre_ = std::make_unique<Pcre>();
  pcre_->code = code;
  pcre2_jit_compile(code,
                    PCRE2_JIT_COMPLETE);  // on failure pcre2_match interprets
}

RegexProgram::~RegexProgram() = default;

void RegexProgram::find(const char32_t* text, size_t size,
                        std::vector<std::pair<size_t, size_t>>& out, bool with_empty) const {
  if (!pcre_) {
    const FlagTable& ft = flag_table();
    for (size_t i = 0; i < size;) {
      const size_t e = gpt2_match_at(text, size, i, ft);
      out.emplace_back(i, e);
      i = e;
    }
    return;
  }
  ThreadMatchState& st = thread_state();
  // Surrogates and values past U+10FFFF cannot come from UTF-8 text, but check
  // once so the matches below may skip PCRE2's own check (which would rescan
  // the subject every time).
  uint32_t options = PCRE2_NO_UTF_CHECK;
  for (size_t k = 0; k < size; ++k)
    if (text[k] > 0x10FFFF || (text[k] >= 0xD800 && text[k] <= 0xDFFF))
      throw std::invalid_argument("text holds a code point that is not a Unicode scalar value");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text);
  size_t start = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (start <= size) {
    int rc = pcre2_match(pcre_->code, subject, size, start, options, st.data, st.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, 256);
      std::string msg;
      for (const PCRE2_UCHAR* q = buf; *q; ++q) append_utf8(msg, static_cast<char32_t>(*q));
      throw std::runtime_error("regex match failed: " + msg);
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const size_t b = ov[0], e = ov[1];
    if (b == e && have_last && last_end == e) {
      // An empty match right where the previous match ended: try one character
      // further.
      ++start;
      continue;
    }
    if (b != e || with_empty) out.emplace_back(b, e);
    have_last = true;
    last_end = e;
    start = e;
  }
}

}  // namespace detail

struct HfRegex::Impl {
  detail::RegexProgram program;
  Impl(const std::string& pattern, const JsonSite& site) : program(pattern, site) {}
};

HfRegex::HfRegex(const std::string& pattern, const JsonSite& site)
    : impl_(std::make_unique<Impl>(pattern, site)) {}
HfRegex::~HfRegex() = default;
HfRegex::HfRegex(HfRegex&&) noexcept = default;

void HfRegex::find_all(const std::u32string& text,
                       std::vector<std::pair<size_t, size_t>>& out) const {
  impl_->program.find(text.data(), text.size(), out, false);
}

}  // namespace embedflow::tokenizers
