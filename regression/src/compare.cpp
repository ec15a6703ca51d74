// File comparisons of `embedflow test` (compare.h): .npy arrays, JSON Lines, bytes, and the
// choice by extension. CSV lives in csv.cpp.
#include "embedflow/regression/compare.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>

#include "common.h"
#include "embedflow/npy.h"

namespace fs = std::filesystem;

namespace embedflow::regression {

using namespace detail;

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Row-vector comparison shared by .npy rows and JSON number arrays: cosine and element-wise
// tolerance. Returns "" when the rows match, else what differs. `index_text` names an element.
template <class G, class C>
std::string compare_vectors(const G* g, const C* c, int64_t n, const Tolerance& tol,
                            const std::function<std::string(int64_t)>& index_text) {
  double dot = 0, gg = 0, cc = 0;
  int64_t worst = -1, bad = 0;
  double worst_delta = -1;
  for (int64_t i = 0; i < n; ++i) {
    double a = static_cast<double>(g[i]), b = static_cast<double>(c[i]);
    if (std::isfinite(a) && std::isfinite(b)) {
      dot += a * b;
      gg += a * a;
      cc += b * b;
    }
    if (within(a, b, tol)) continue;
    ++bad;
    double d = std::isnan(a - b) ? INFINITY : std::fabs(a - b);
    if (d > worst_delta) worst_delta = d, worst = i;
  }
  // Two zero rows agree; a zero row against a non-zero one does not.
  double cosine = (gg == 0 && cc == 0)   ? 1.0
                  : (gg == 0 || cc == 0) ? 0.0
                                         : dot / std::sqrt(gg * cc);
  bool cosine_bad = n > 1 && cosine < tol.min_cosine;
  if (!bad && !cosine_bad) return "";
  std::string out;
  if (bad) {
    out = std::to_string(bad) + " of " + std::to_string(n) + " values beyond atol " + num(tol.atol);
    if (tol.rtol > 0) out += " + rtol " + num(tol.rtol);
    out += "; max |Δ| " + num(worst_delta) + " at " + index_text(worst) + " (golden " +
           num(static_cast<double>(g[worst])) + ", now " + num(static_cast<double>(c[worst])) + ")";
  }
  if (n > 1) {
    // Enough digits to tell 0.99999994 from 1.
    out += std::string(out.empty() ? "" : "; ") + "cosine " + num(cosine, 9);
    if (cosine_bad) out += " < min_cosine " + num(tol.min_cosine);
  }
  return out;
}

template <class T>
std::string compare_exact(const T* g, const T* c, int64_t n,
                          const std::function<std::string(int64_t)>& index_text) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; ++i)
    if (g[i] != c[i] && bad++ == 0) first = i;
  if (!bad) return "";
  return std::to_string(bad) + " of " + std::to_string(n) +
         " values differ (compared exactly); first at " + index_text(first) + " (golden " +
         std::to_string(static_cast<int64_t>(g[first])) + ", now " +
         std::to_string(static_cast<int64_t>(c[first])) + ")";
}

}  // namespace

std::vector<std::string> sidecar_ids(const std::string& npy_path) {
  fs::path side = fs::path(npy_path).replace_extension(".jsonl");
  std::error_code ec;
  if (!fs::is_regular_file(side, ec)) return {};
  std::vector<std::string> ids;
  for (const auto& line : read_lines(side.string())) {
    Json j = Json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("row") || !j["row"].is_number_integer()) return {};
    size_t row = j["row"].get<size_t>();
    if (row >= ids.size()) ids.resize(row + 1);
    ids[row] = json_id(j);
  }
  return ids;
}

FileComparison compare_npy(const std::string& golden, const std::string& current,
                           const Tolerance& tol, size_t max_report, std::vector<std::string> ids) {
  FileComparison c;
  Collector out(c, "npy", max_report);
  if (ids.empty()) ids = sidecar_ids(golden);
  Tensor g, cur;
  try {
    g = read_npy(golden);
  } catch (const std::exception& e) {
    out.add("file", "", std::string("cannot read the golden copy: ") + e.what());
    return c;
  }
  try {
    cur = read_npy(current);
  } catch (const std::exception& e) {
    out.add("file", "", std::string("cannot read this run's file: ") + e.what());
    return c;
  }
  if (g.dtype() != cur.dtype()) {
    out.add("file", "",
            std::string("dtype changed: golden ") + dtype_name(g.dtype()) + ", now " +
                dtype_name(cur.dtype()));
    return c;
  }
  // Rows are the first dimension of a stacked array; a 0-d or 1-d array is one row.
  bool stacked = g.ndim() >= 2;
  auto rows_of = [&](const Tensor& t) { return t.ndim() >= 2 ? t.shape()[0] : int64_t(1); };
  auto row_shape = [&](const Tensor& t) {
    return t.ndim() >= 2 ? std::vector<int64_t>(t.shape().begin() + 1, t.shape().end()) : t.shape();
  };
  if (row_shape(g) != row_shape(cur) || g.ndim() != cur.ndim()) {
    out.add("file", ids.size() == 1 ? ids[0] : "",
            "shape changed: golden " + g.shape_str() + ", now " + cur.shape_str());
    return c;
  }
  const int64_t g_rows = rows_of(g), c_rows = rows_of(cur);
  int64_t row_len = 1;
  for (int64_t d : row_shape(g)) row_len *= d;
  auto id_of = [&](int64_t row) -> std::string {
    if (ids.size() == 1) return ids[0];  // a file holding one item
    return row < static_cast<int64_t>(ids.size()) ? ids[static_cast<size_t>(row)] : "";
  };
  if (g_rows != c_rows)
    c.note = "shape changed: golden " + g.shape_str() + ", now " + cur.shape_str();

  const std::vector<int64_t> rshape = row_shape(g);
  const int64_t common = std::min(g_rows, c_rows);
  for (int64_t r = 0; r < common; ++r) {
    auto index_text = [&](int64_t flat) {
      std::vector<int64_t> idx(rshape.size());
      for (size_t d = rshape.size(); d-- > 0;) {
        idx[d] = flat % rshape[d];
        flat /= rshape[d];
      }
      if (stacked) idx.insert(idx.begin(), r);
      return shape_text(idx);
    };
    const size_t offset = static_cast<size_t>(r * row_len);
    std::string diff;
    switch (g.dtype()) {
      case DType::F32:
        diff = compare_vectors(g.data<float>() + offset, cur.data<float>() + offset, row_len, tol,
                               index_text);
        break;
      case DType::U8:
        diff = compare_exact(g.data<uint8_t>() + offset, cur.data<uint8_t>() + offset, row_len,
                             index_text);
        break;
      case DType::I64:
        diff = compare_exact(g.data<int64_t>() + offset, cur.data<int64_t>() + offset, row_len,
                             index_text);
        break;
    }
    if (!diff.empty()) out.add(stacked ? "row " + std::to_string(r) : "values", id_of(r), diff);
  }
  for (int64_t r = common; r < g_rows; ++r)
    out.add("row " + std::to_string(r), id_of(r), "missing: in the golden, not in this run");
  for (int64_t r = common; r < c_rows; ++r)
    out.add("row " + std::to_string(r), "", "extra: in this run, not in the golden");
  c.units = static_cast<uint64_t>(common);
  return c;
}

namespace {

// JSON values: strings, booleans and nulls exact; numbers within tolerance (two integers
// exactly); arrays of numbers as vectors; objects key by key. Differences go to `diffs`.
void compare_json(const Json& g, const Json& c, const std::string& path, const Tolerance& tol,
                  std::vector<std::string>& diffs) {
  const std::string label = path.empty() ? "value" : "'" + path + "'";
  if (g.is_number() && c.is_number()) {
    if (g.is_number_integer() && c.is_number_integer()) {
      if (g != c) diffs.push_back(label + ": golden " + g.dump() + ", now " + c.dump());
    } else if (!within(g.get<double>(), c.get<double>(), tol)) {
      diffs.push_back(label + ": golden " + num(g.get<double>()) + ", now " + num(c.get<double>()) +
                      " (|Δ| " + num(std::fabs(g.get<double>() - c.get<double>())) + " > atol " +
                      num(tol.atol) + ")");
    }
    return;
  }
  if (g.is_array() && c.is_array()) {
    if (g.size() != c.size()) {
      diffs.push_back(label + ": golden has " + std::to_string(g.size()) + " elements, now " +
                      std::to_string(c.size()));
      return;
    }
    auto all_numbers = [](const Json& a) {
      return std::all_of(a.begin(), a.end(), [](const Json& e) { return e.is_number(); });
    };
    auto all_integers = [](const Json& a) {
      return std::all_of(a.begin(), a.end(), [](const Json& e) { return e.is_number_integer(); });
    };
    if (!g.empty() && all_numbers(g) && all_numbers(c) && !(all_integers(g) && all_integers(c))) {
      std::vector<double> gv, cv;
      for (const auto& e : g) gv.push_back(e.get<double>());
      for (const auto& e : c) cv.push_back(e.get<double>());
      std::string d = compare_vectors(gv.data(), cv.data(), static_cast<int64_t>(gv.size()), tol,
                                      [](int64_t i) { return "[" + std::to_string(i) + "]"; });
      if (!d.empty()) diffs.push_back(label + ": " + d);
      return;
    }
    for (size_t i = 0; i < g.size(); ++i)
      compare_json(g[i], c[i], path + "[" + std::to_string(i) + "]", tol, diffs);
    return;
  }
  if (g.is_object() && c.is_object()) {
    for (auto it = g.begin(); it != g.end(); ++it) {
      std::string sub = path.empty() ? it.key() : path + "." + it.key();
      auto ct = c.find(it.key());
      if (ct == c.end())
        diffs.push_back("key '" + sub + "' missing (golden " + brief(it.value()) + ")");
      else
        compare_json(it.value(), *ct, sub, tol, diffs);
    }
    for (auto it = c.begin(); it != c.end(); ++it)
      if (!g.contains(it.key()))
        diffs.push_back("key '" + (path.empty() ? it.key() : path + "." + it.key()) +
                        "' is new (now " + brief(it.value()) + ")");
    return;
  }
  if (g != c) diffs.push_back(label + ": golden " + brief(g) + ", now " + brief(c));
}

}  // namespace

FileComparison compare_jsonl(const std::string& golden, const std::string& current,
                             const Tolerance& tol, size_t max_report) {
  FileComparison c;
  Collector out(c, "jsonl", max_report);
  std::vector<std::string> g = read_lines(golden), cur = read_lines(current);
  auto parse = [](const std::string& text, std::string& error) {
    try {
      return Json::parse(text);
    } catch (const Json::parse_error& e) {
      error = e.what();
      return Json();
    }
  };
  const size_t common = std::min(g.size(), cur.size());
  for (size_t i = 0; i < common; ++i) {
    std::string where = "line " + std::to_string(i + 1);
    std::string gerr, cerr;
    Json gj = parse(g[i], gerr), cj = parse(cur[i], cerr);
    if (!gerr.empty() || !cerr.empty()) {
      if (g[i] != cur[i])
        out.add(where, "", "not JSON (" + (gerr.empty() ? cerr : gerr) + "); the lines differ");
      continue;
    }
    std::vector<std::string> diffs;
    compare_json(gj, cj, "", tol, diffs);
    if (!diffs.empty()) out.add(where, json_id(gj), summarize(diffs));
  }
  for (size_t i = common; i < g.size(); ++i)
    out.add("line " + std::to_string(i + 1), json_id(Json::parse(g[i], nullptr, false)),
            "missing: in the golden, not in this run");
  for (size_t i = common; i < cur.size(); ++i)
    out.add("line " + std::to_string(i + 1), json_id(Json::parse(cur[i], nullptr, false)),
            "extra: in this run, not in the golden");
  if (g.size() != cur.size())
    c.note =
        "golden has " + std::to_string(g.size()) + " lines, this run " + std::to_string(cur.size());
  c.units = common;
  return c;
}

FileComparison compare_bytes(const std::string& golden, const std::string& current,
                             size_t max_report) {
  FileComparison c;
  Collector out(c, "bytes", max_report);
  std::string g = read_bytes(golden), cur = read_bytes(current);
  c.units = g.size();
  if (g == cur) return c;
  size_t at = 0;
  while (at < g.size() && at < cur.size() && g[at] == cur[at]) ++at;
  out.add("byte " + std::to_string(at), "",
          "contents differ (golden " + std::to_string(g.size()) + " bytes, now " +
              std::to_string(cur.size()) + "; first difference at byte " + std::to_string(at) +
              ")");
  return c;
}

FileComparison compare_file(const std::string& golden, const std::string& current,
                            const Tolerance& tol, size_t max_report) {
  std::string ext = fs::path(golden).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  if (ext == ".npy") return compare_npy(golden, current, tol, max_report);
  if (ext == ".jsonl") return compare_jsonl(golden, current, tol, max_report);
  if (ext == ".csv") return compare_csv(golden, current, tol, max_report);
  FileComparison c = compare_bytes(golden, current, max_report);
  if (ext == ".png" && !c.ok())
    c.note =
        "PNGs are compared byte for byte (the engine decodes no images); tap the stage "
        "before the writer to compare its values with a tolerance";
  return c;
}

}  // namespace embedflow::regression
