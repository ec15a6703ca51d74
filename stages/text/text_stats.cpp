#include "stages/text/text_stats.h"

#include <string>

#include <utf8proc.h>

#include "embedflow/errors.h"
#include "embedflow/registry.h"
#include "stages/text/register.h"

namespace embedflow {

StageSchema text_stats_schema() {
  StageSchema s;
  s.type = "text.stats";
  s.kind = StageKind::Map;
  s.summary = "Counts characters, bytes, words and lines of each text";
  s.doc =
      "The record has `chars` (Unicode code points), `bytes` (UTF-8), `words` "
      "(whitespace-separated), `lines` and `avg_word_length` (code points per word, 0 without "
      "words). Parity: Python's `len(t)`, `len(t.encode())`, `len(t.split())`, "
      "`len(t.splitlines())` — the same Unicode whitespace and line boundaries (\\r\\n, \\v, "
      "\\f, U+0085, U+2028, …). Text that is not valid UTF-8 fails that item.";
  s.inputs = {{"in", {Kind::Text}, "Texts"}};
  s.output = Kind::Record;
  s.default_concurrency = 0;
  s.params = {};
  return s;
}

TextStats::TextStats(const Params& params) {
  (void)params;
}

namespace {

// str.isspace(): bidirectional class WS, B or S, or general category Zs.
bool is_space(utf8proc_int32_t cp) {
  const utf8proc_property_t* p = utf8proc_get_property(cp);
  return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
         p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

// The boundaries of str.splitlines().
bool is_line_break(utf8proc_int32_t cp) {
  switch (cp) {
    case '\n':
    case '\r':
    case 0x0B:
    case 0x0C:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x85:
    case 0x2028:
    case 0x2029:
      return true;
    default:
      return false;
  }
}

}  // namespace

void TextStats::process(const Item& in, Item& out) {
  const std::string& text = in.text;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t offset = 0;
  int64_t chars = 0, words = 0, word_chars = 0, lines = 0;
  bool in_word = false, line_open = false, after_cr = false;
  while (offset < text.size()) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n =
        utf8proc_iterate(p + offset, static_cast<utf8proc_ssize_t>(text.size() - offset), &cp);
    if (n < 0)
      throw ItemFailure("text.stats: text of '" + in.id + "' is not valid UTF-8 (byte " +
                        std::to_string(offset) + ")");
    offset += static_cast<size_t>(n);
    ++chars;
    if (is_space(cp)) {
      in_word = false;
    } else {
      if (!in_word) ++words;
      in_word = true;
      ++word_chars;
    }
    // "\r\n" is one boundary; any other break ends a line (even an empty one).
    if (cp == '\n' && after_cr) {
      after_cr = false;
      continue;
    }
    after_cr = cp == '\r';
    if (is_line_break(cp)) {
      ++lines;
      line_open = false;
    } else {
      line_open = true;
    }
  }
  if (line_open) ++lines;

  out.kind = Kind::Record;
  out.record = Json::object();
  out.record["chars"] = chars;
  out.record["bytes"] = static_cast<int64_t>(text.size());
  out.record["words"] = words;
  out.record["lines"] = lines;
  out.record["avg_word_length"] = words ? static_cast<double>(word_chars) / words : 0.0;
}

void register_text_stats_stage(Registry& registry) {
  add_stage<TextStats>(registry, text_stats_schema());
}

}  // namespace embedflow
