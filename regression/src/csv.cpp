// CSV comparison of `embedflow test`: cells matched by column name, numbers within tolerance.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>

#include "common.h"
#include "embedflow/regression/compare.h"
#include "embedflow/strings.h"

namespace embedflow::regression {

using namespace detail;

namespace {

using CsvRow = std::vector<std::string>;

// RFC 4180: quoted fields may hold delimiters, quotes (doubled) and line breaks; rows end in
// CRLF or LF. The delimiter is the one of , ; | tab that the header uses most.
std::vector<CsvRow> parse_csv(const std::string& text) {
  char delim = ',';
  {
    size_t best = 0;
    for (char d : {',', ';', '|', '\t'}) {
      size_t n = 0;
      bool quoted = false;
      for (char ch : text) {
        if (ch == '"') quoted = !quoted;
        if (!quoted && (ch == '\n' || ch == '\r')) break;
        if (!quoted && ch == d) ++n;
      }
      if (n > best) best = n, delim = d;
    }
  }
  std::vector<CsvRow> rows;
  CsvRow row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (quoted) {
      if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        field += ch;
      }
      continue;
    }
    if (ch == '"') {
      quoted = any = true;
    } else if (ch == delim) {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (ch == '\r' || ch == '\n') {
      if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      field += ch;
      any = true;
    }
  }
  if (any || !field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

bool parse_number(const std::string& s, double& out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  return *end == '\0' && errno == 0;
}

}  // namespace

FileComparison compare_csv(const std::string& golden, const std::string& current,
                           const Tolerance& tol, size_t max_report) {
  FileComparison c;
  Collector out(c, "csv", max_report);
  std::vector<CsvRow> g = parse_csv(read_bytes(golden)), cur = parse_csv(read_bytes(current));
  if (g.empty() && cur.empty()) return c;
  CsvRow gh = g.empty() ? CsvRow{} : g[0], ch = cur.empty() ? CsvRow{} : cur[0];
  if (gh != ch) {
    std::vector<std::string> q_g, q_c;
    for (auto& s : gh) q_g.push_back("'" + s + "'");
    for (auto& s : ch) q_c.push_back("'" + s + "'");
    out.add("header", "",
            "columns changed: golden " + join(q_g, ", ") + ", now " + join(q_c, ", "));
  }
  // Cells are matched by column name, so a reordered or added column is reported once (above)
  // and the values of the others are still compared.
  std::map<std::string, size_t> cur_col;
  for (size_t i = 0; i < ch.size(); ++i) cur_col.emplace(ch[i], i);
  auto id_col = std::find(gh.begin(), gh.end(), "id");
  auto id_of = [&](const CsvRow& r) {
    size_t k = static_cast<size_t>(id_col - gh.begin());
    return id_col != gh.end() && k < r.size() ? r[k] : "";
  };
  const size_t g_rows = g.size() > 0 ? g.size() - 1 : 0,
               c_rows = cur.size() > 0 ? cur.size() - 1 : 0;
  const size_t common = std::min(g_rows, c_rows);
  for (size_t r = 0; r < common; ++r) {
    const CsvRow& gr = g[r + 1];
    const CsvRow& cr = cur[r + 1];
    std::vector<std::string> diffs;
    if (gr.size() != cr.size())
      diffs.push_back(std::to_string(gr.size()) + " cells in the golden, " +
                      std::to_string(cr.size()) + " now");
    for (size_t k = 0; k < gh.size() && k < gr.size(); ++k) {
      auto it = cur_col.find(gh[k]);
      if (it == cur_col.end() || it->second >= cr.size()) continue;
      const std::string& a = gr[k];
      const std::string& b = cr[it->second];
      if (a == b) continue;
      double x, y;
      if (parse_number(a, x) && parse_number(b, y) && within(x, y, tol)) continue;
      diffs.push_back("column '" + gh[k] + "': golden " + Json(a).dump() + ", now " +
                      Json(b).dump());
    }
    if (!diffs.empty()) out.add("row " + std::to_string(r), id_of(gr), summarize(diffs));
  }
  for (size_t r = common; r < g_rows; ++r)
    out.add("row " + std::to_string(r), id_of(g[r + 1]), "missing: in the golden, not in this run");
  for (size_t r = common; r < c_rows; ++r)
    out.add("row " + std::to_string(r), id_of(cur[r + 1]), "extra: in this run, not in the golden");
  if (g_rows != c_rows)
    c.note = "golden has " + std::to_string(g_rows) + " rows, this run " + std::to_string(c_rows);
  c.units = common;
  return c;
}

}  // namespace embedflow::regression
