// `embedflow test`: goldens, comparisons and the report. See regression.h for the contract and
// docs/regression-tests.md for the user's view.
#include "embedflow/regression.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "embedflow/atomic_file.h"
#include "embedflow/hash.h"
#include "embedflow/npy.h"
#include "embedflow/suggest.h"

namespace fs = std::filesystem;

namespace embedflow::regression {

namespace {

std::string num(double x, int digits = 7) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// A JSON value for a report line: compact, long ones cut.
std::string brief(const Json& v, size_t max = 60) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(std::move(l));
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Collects mismatches: keeps the first `max`, counts all.
struct Collector {
  FileComparison& c;
  size_t max;
  void add(std::string where, std::string id, std::string detail) {
    ++c.mismatch_count;
    c.status = FileComparison::Status::Differ;
    if (c.mismatches.size() < max)
      c.mismatches.push_back({std::move(where), std::move(id), std::move(detail)});
  }
};

bool within(double golden, double current, const Tolerance& tol) {
  if (golden == current) return true;  // also equal infinities
  if (std::isnan(golden) || std::isnan(current)) return std::isnan(golden) && std::isnan(current);
  return std::fabs(current - golden) <= tol.atol + tol.rtol * std::fabs(golden);
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

// ---------------------------------------------------------------------------------------------
// Settings

Tolerance TestSettings::for_output(const std::string& stage_id) const {
  auto it = outputs.find(stage_id);
  return it != outputs.end() ? it->second : defaults;
}

namespace {

Json tolerance_json(const Tolerance& t) {
  return {{"min_cosine", t.min_cosine}, {"atol", t.atol}, {"rtol", t.rtol}};
}

// Locations of `test:` values, from a second read of the YAML (the loader keeps only the JSON).
class YamlLocator {
 public:
  explicit YamlLocator(const std::string& file) : file_(file) {
    if (file.empty()) return;
    try {
      root_ = YAML::LoadFile(file);
    } catch (const std::exception&) {
    }
  }
  // The location of the value at `path` ("test", "outputs", "emb"), or of its deepest parent
  // that exists.
  SourceLocation at(const std::vector<std::string>& path) const {
    SourceLocation best{file_.empty() ? "<pipeline>" : file_, 0, 0};
    if (root_) locate(root_, path, 0, best);
    return best;
  }

 private:
  void locate(const YAML::Node& node, const std::vector<std::string>& path, size_t depth,
              SourceLocation& best) const {
    if (depth == path.size() || !node.IsMap()) return;
    const YAML::Node child = node[path[depth]];  // const lookup: inserts nothing
    if (!child) return;
    YAML::Mark m = child.Mark();
    if (m.line >= 0) best = {file_, m.line + 1, m.column + 1};
    locate(child, path, depth + 1, best);
  }

  std::string file_;
  YAML::Node root_;
};

}  // namespace

Json TestSettings::to_json() const {
  Json j = tolerance_json(defaults);
  Json per = Json::object();
  for (const auto& [id, t] : outputs) per[id] = tolerance_json(t);
  j["outputs"] = per;
  return j;
}

TestSettings parse_test_settings(const PipelineConfig& config) {
  TestSettings s;
  if (config.test.is_null()) return s;
  YamlLocator locator(config.file);
  std::vector<Diagnostic> diags;
  auto error = [&](const std::vector<std::string>& path, const std::string& msg) {
    diags.push_back({Diagnostic::Severity::Error, locator.at(path), "", msg});
  };
  const std::vector<std::string> tolerance_keys = {"min_cosine", "atol", "rtol"};

  auto read_tolerance = [&](const Json& obj, std::vector<std::string> path, Tolerance base) {
    std::string name = join(path, ".");
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      std::vector<std::string> key_path = path;
      key_path.push_back(it.key());
      std::string full = name + "." + it.key();
      if (std::find(tolerance_keys.begin(), tolerance_keys.end(), it.key()) ==
          tolerance_keys.end()) {
        if (path.size() == 1 && it.key() == "outputs") continue;
        std::string hint = did_you_mean(it.key(), tolerance_keys);
        error(key_path, "unknown key '" + full + "'" +
                            (hint.empty() ? "; known keys: " + join(tolerance_keys) +
                                                (path.size() == 1 ? ", outputs" : "")
                                          : hint));
        continue;
      }
      const Json& v = it.value();
      if (!v.is_number()) {
        error(key_path, full + " must be a number, got " + brief(v));
        continue;
      }
      double x = v.get<double>();
      if (it.key() == "min_cosine") {
        if (!(x >= -1 && x <= 1))
          error(key_path, full + " must be between -1 and 1, got " + num(x));
        else
          base.min_cosine = x;
      } else if (!(x >= 0) || !std::isfinite(x)) {
        error(key_path, full + " must be a finite number >= 0, got " + num(x));
      } else if (it.key() == "atol") {
        base.atol = x;
      } else {
        base.rtol = x;
      }
    }
    return base;
  };

  if (!config.test.is_object()) {
    error({"test"}, "'test' must be a mapping of min_cosine, atol, rtol and outputs, got " +
                        brief(config.test));
    throw ConfigError(diags);
  }
  s.defaults = read_tolerance(config.test, {"test"}, s.defaults);

  if (config.test.contains("outputs") && !config.test["outputs"].is_null()) {
    const Json& outs = config.test["outputs"];
    std::vector<std::string> names;  // what an entry may name
    for (const auto& sc : config.stages)
      if ((sc.stage_type && sc.stage_type->schema.kind == StageKind::Sink) || sc.tap)
        names.push_back(sc.id);
    if (!outs.is_object()) {
      error({"test", "outputs"},
            "test.outputs must map writer stage ids to tolerances, got " + brief(outs));
    } else {
      for (auto it = outs.begin(); it != outs.end(); ++it) {
        std::vector<std::string> path = {"test", "outputs", it.key()};
        if (std::find(names.begin(), names.end(), it.key()) == names.end()) {
          std::string hint = did_you_mean(it.key(), names);
          error(path,
                "test.outputs." + it.key() + ": no writer or tapped stage has id '" + it.key() +
                    "'" +
                    (hint.empty() && !names.empty() ? "; writers and taps: " + join(names) : hint));
          continue;
        }
        if (!it.value().is_object()) {
          error(path, "test.outputs." + it.key() +
                          " must be a mapping of min_cosine, atol, rtol, got " + brief(it.value()));
          continue;
        }
        Tolerance t = read_tolerance(it.value(), path, s.defaults);
        s.outputs[it.key()] = t;
        // A tapped stage's tolerance applies to its tap writer.
        const StageConfig* sc = config.find(it.key());
        if (sc && sc->tap) s.outputs[tap_writer_id(it.key())] = t;
      }
    }
  }
  if (!diags.empty()) throw ConfigError(diags);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Taps

std::string tap_writer_id(const std::string& stage_id) {
  return "tap:" + stage_id;
}

std::vector<std::string> add_tap_writers(PipelineConfig& config, const Registry& registry) {
  fs::path taps = fs::path(run_output_dir(config)) / "taps";
  std::vector<Diagnostic> diags;
  std::vector<StageConfig> writers;
  for (const auto& sc : config.stages) {
    if (!sc.tap || !sc.stage_type) continue;
    auto error = [&](const std::string& msg) {
      diags.push_back({Diagnostic::Severity::Error, sc.where, sc.id, msg});
    };
    if (sc.stage_type->schema.kind == StageKind::Sink) {
      error("tap: true on a writer: its files are compared already; remove `tap`");
      continue;
    }
    std::string file = sc.id;  // a file name, whatever the id holds
    std::replace_if(
        file.begin(), file.end(), [](char c) { return c == '/' || c == '\\'; }, '_');
    std::string type;
    Json params;
    switch (sc.output) {
      case Kind::Embedding:  // one shape per stage: one stacked array
        type = "write.npy";
        params = {{"path", (taps / (file + ".npy")).string()}, {"dtype", "keep"}};
        break;
      case Kind::Audio:
      case Kind::Spectrogram:
      case Kind::Image:
      case Kind::ImageTensor:
      case Kind::Tensor:  // shapes may differ between items: a file each
        type = "write.npy";
        params = {{"per_item", true},
                  {"dir", (taps / file).string()},
                  {"name", "{index}_{id}.npy"},
                  {"dtype", "keep"}};
        break;
      default:  // texts, records, file names
        type = "write.jsonl";
        params = {{"path", (taps / (file + ".jsonl")).string()}};
        break;
    }
    const StageType* writer = registry.find(type);
    if (!writer) {
      error("tap: true needs the " + type + " writer, which this build does not register");
      continue;
    }
    StageConfig w;
    w.id = tap_writer_id(sc.id);
    if (config.find(w.id)) {
      error("tap: true would add a writer '" + w.id + "', but a stage already has that id");
      continue;
    }
    w.type = type;
    w.inputs = {sc.id};
    w.params = resolve_params(writer->schema, w.id, params);
    w.concurrency = 1;
    w.on_error = sc.on_error;
    w.where = sc.where;
    w.stage_type = writer;
    w.output = Kind::None;
    writers.push_back(std::move(w));
  }
  if (!diags.empty()) throw ConfigError(diags);
  std::vector<std::string> ids;
  for (auto& w : writers) {
    ids.push_back(w.id);
    config.stages.push_back(std::move(w));
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Identity

namespace {

bool is_tap_writer(const PipelineConfig& config, const StageConfig& sc) {
  if (sc.inputs.size() != 1 || sc.id != tap_writer_id(sc.inputs[0])) return false;
  const StageConfig* up = config.find(sc.inputs[0]);
  return up && up->tap;
}

}  // namespace

std::string stage_config_hash(const PipelineConfig& config) {
  Json stages = Json::array();
  for (const auto& sc : config.stages) {
    if (is_tap_writer(config, sc)) continue;
    stages.push_back({{"id", sc.id},
                      {"type", sc.type},
                      {"inputs", sc.inputs},
                      {"params", sc.params.values()},
                      {"tap", sc.tap}});
  }
  // nlohmann::json keeps object keys sorted, so dump() is canonical.
  return sha256_hex(stages.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Json model_file_hashes(const PipelineConfig& config) {
  Json out = Json::object();
  std::function<void(const Json&, const std::string&)> visit = [&](const Json& v,
                                                                   const std::string& name) {
    if (!v.is_object()) return;
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string key = name + "." + it.key();
      if (it.value().is_object()) {
        visit(it.value(), key);
        continue;
      }
      if (it.key() != "model" || !it.value().is_string()) continue;
      std::string path = it.value().get<std::string>();
      Json entry = {{"path", path}};
      Json files = Json::object();
      std::error_code ec;
      if (fs::is_regular_file(path, ec)) {
        files[fs::path(path).filename().string()] = sha256_file(path);
      } else if (fs::is_directory(path, ec)) {
        for (auto& e : fs::recursive_directory_iterator(path, ec)) {
          if (!e.is_regular_file()) continue;
          std::string fname = e.path().filename().string();
          if (e.path().extension() != ".safetensors" && fname != "config.json") continue;
          files[e.path().lexically_relative(path).generic_string()] =
              sha256_file(e.path().string());
        }
      } else {
        entry["missing"] = true;
      }
      entry["files"] = files;
      out[key.substr(1)] = entry;
    }
  };
  for (const auto& sc : config.stages) visit(sc.params.values(), "." + sc.id);
  // Keys are "stage.model" ("stage.block.model" inside a block); a stage id may hold dots, so
  // they are only labels.
  return out;
}

// ---------------------------------------------------------------------------------------------
// Comparisons

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
    const Json& id = j.value("id", Json());
    ids[row] = id.is_string() ? id.get<std::string>() : id.dump();
  }
  return ids;
}

FileComparison compare_npy(const std::string& golden, const std::string& current,
                           const Tolerance& tol, size_t max_report, std::vector<std::string> ids) {
  FileComparison c;
  c.kind = "npy";
  Collector out{c, max_report};
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

std::string json_id(const Json& line) {
  if (!line.is_object() || !line.contains("id")) return "";
  const Json& id = line["id"];
  return id.is_string() ? id.get<std::string>() : id.dump();
}

std::string summarize(const std::vector<std::string>& diffs, size_t shown = 3) {
  std::vector<std::string> head(diffs.begin(), diffs.begin() + std::min(shown, diffs.size()));
  std::string s = join(head, "; ");
  if (diffs.size() > shown) s += " (+" + std::to_string(diffs.size() - shown) + " more)";
  return s;
}

}  // namespace

FileComparison compare_jsonl(const std::string& golden, const std::string& current,
                             const Tolerance& tol, size_t max_report) {
  FileComparison c;
  c.kind = "jsonl";
  Collector out{c, max_report};
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
  c.kind = "csv";
  Collector out{c, max_report};
  std::vector<CsvRow> g = parse_csv(read_bytes(golden)), cur = parse_csv(read_bytes(current));
  if (g.empty() && cur.empty()) return c;
  CsvRow gh = g.empty() ? CsvRow{} : g[0], ch = cur.empty() ? CsvRow{} : cur[0];
  if (gh != ch) {
    std::vector<std::string> q_g, q_c;
    for (auto& s : gh) q_g.push_back("'" + s + "'");
    for (auto& s : ch) q_c.push_back("'" + s + "'");
    out.add("header", "", "columns changed: golden " + join(q_g) + ", now " + join(q_c));
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

FileComparison compare_bytes(const std::string& golden, const std::string& current,
                             size_t max_report) {
  FileComparison c;
  c.kind = "bytes";
  Collector out{c, max_report};
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

// ---------------------------------------------------------------------------------------------
// Runs and golden folders

namespace {

fs::path absolute_normal(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  return (ec ? p : a).lexically_normal();
}

fs::path common_ancestor(const fs::path& a, const fs::path& b) {
  fs::path out;
  auto ia = a.begin(), ib = b.begin();
  for (; ia != a.end() && ib != b.end() && *ia == *ib; ++ia, ++ib) out /= *ia;
  return out;
}

// The files of a per-item folder: those its index.jsonl names (a folder reused across runs may
// hold stale files), else all of them.
std::vector<fs::path> folder_files(const fs::path& dir) {
  std::vector<fs::path> files;
  fs::path index = dir / "index.jsonl";
  std::error_code ec;
  if (fs::is_regular_file(index, ec)) {
    files.push_back(index);
    for (const auto& line : read_lines(index.string())) {
      Json j = Json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("file") && j["file"].is_string())
        files.push_back(dir / j["file"].get<std::string>());
    }
    return files;
  }
  for (auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// The item id of a per-item .npy, from the index.jsonl of the folder holding it (or one above).
std::string per_item_id(const fs::path& file, const fs::path& root) {
  std::error_code ec;
  for (fs::path dir = file.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    fs::path index = dir / "index.jsonl";
    if (fs::is_regular_file(index, ec)) {
      std::string rel = file.lexically_relative(dir).generic_string();
      for (const auto& line : read_lines(index.string())) {
        Json j = Json::parse(line, nullptr, false);
        if (j.is_object() && j.value("file", "") == rel) return json_id(j);
      }
      return "";
    }
    if (dir == root || dir == dir.parent_path()) break;
  }
  return "";
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct ErrorRecord {
  std::string id, stage, message;
};

std::vector<ErrorRecord> read_errors(const RunResult& result) {
  std::vector<ErrorRecord> out;
  std::error_code ec;
  if (result.errors_file.empty() || !fs::is_regular_file(result.errors_file, ec)) return out;
  for (const auto& line : read_lines(result.errors_file)) {
    Json j = Json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    out.push_back({json_id(j), j.value("stage", ""), j.value("error", "")});
  }
  // Errors are logged as they happen, in no fixed order.
  std::sort(out.begin(), out.end(), [](const ErrorRecord& a, const ErrorRecord& b) {
    return std::tie(a.stage, a.id) < std::tie(b.stage, b.id);
  });
  return out;
}

Json read_manifest(const std::string& golden_dir) {
  fs::path p = fs::path(golden_dir) / kManifestName;
  std::error_code ec;
  if (!fs::is_regular_file(p, ec))
    throw std::runtime_error("no goldens in " + golden_dir + " (" + p.string() +
                             " not found); record them with --update");
  Json m = Json::parse(read_bytes(p.string()), nullptr, false);
  if (!m.is_object() || !m.contains("outputs") || !m["outputs"].is_array())
    throw std::runtime_error(p.string() +
                             " is not an embedflow golden manifest (no 'outputs' list)");
  return m;
}

}  // namespace

std::vector<RunOutput> collect_outputs(const PipelineConfig& config, const RunResult& result,
                                       std::string* output_root) {
  std::vector<std::pair<std::string, fs::path>> files;  // stage, absolute path
  std::set<fs::path> seen;
  for (size_t i = 0; i < result.outputs.size(); ++i) {
    std::string stage = i < result.output_stages.size() ? result.output_stages[i] : "";
    fs::path p = absolute_normal(result.outputs[i]);
    std::error_code ec;
    std::vector<fs::path> expanded =
        fs::is_directory(p, ec) ? folder_files(p) : std::vector<fs::path>{p};
    for (auto& f : expanded) {
      f = f.lexically_normal();
      if (seen.insert(f).second) files.emplace_back(stage, f);
    }
  }
  fs::path root = absolute_normal(run_output_dir(config));
  for (const auto& f : files) root = common_ancestor(root, f.second.parent_path());
  if (output_root) *output_root = root.string();
  std::vector<RunOutput> out;
  for (const auto& [stage, f] : files)
    out.push_back({stage, f.lexically_relative(root).generic_string(), f.string()});
  return out;
}

Json record_goldens(const PipelineConfig& config, const RunResult& result,
                    const std::string& golden_dir, const TestSettings& settings) {
  std::vector<RunOutput> outputs = collect_outputs(config, result);
  fs::create_directories(golden_dir);

  std::set<std::string> current;
  for (const auto& o : outputs) current.insert(o.path);
  std::error_code ec;
  if (fs::is_regular_file(fs::path(golden_dir) / kManifestName, ec)) {
    // Only files the old manifest lists are removed: the folder may hold other things.
    Json old =
        Json::parse(read_bytes((fs::path(golden_dir) / kManifestName).string()), nullptr, false);
    if (old.is_object() && old.contains("outputs") && old["outputs"].is_array())
      for (const auto& o : old["outputs"]) {
        std::string rel = o.value("path", "");
        if (!rel.empty() && !current.count(rel) && rel.find("..") == std::string::npos)
          fs::remove(fs::path(golden_dir) / rel, ec);
      }
  }

  Json listed = Json::array();
  for (const auto& o : outputs) {
    fs::path dst = fs::path(golden_dir) / o.path;
    fs::create_directories(dst.parent_path());
    fs::path tmp = dst;
    tmp += ".tmp";
    fs::copy_file(o.file, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, dst);
    listed.push_back({{"stage", o.stage},
                      {"path", o.path},
                      {"bytes", fs::file_size(dst)},
                      {"sha256", sha256_file(dst.string())}});
  }
  Json errors = Json::array();
  for (const auto& e : read_errors(result)) errors.push_back({{"id", e.id}, {"stage", e.stage}});

  Json manifest = {{"embedflow_version", EMBEDFLOW_VERSION},
                   {"created", utc_now()},
                   {"pipeline", config.name},
                   {"pipeline_file", config.file},
                   {"config_hash", stage_config_hash(config)},
                   {"models", model_file_hashes(config)},
                   {"tolerances", settings.to_json()},
                   {"items", result.items},
                   {"errors", errors},
                   {"outputs", listed}};
  AtomicFile f((fs::path(golden_dir) / kManifestName).string());
  f.write(manifest.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  f.commit();
  return manifest;
}

Report compare_with_goldens(const PipelineConfig& config, const RunResult& result,
                            const std::string& golden_dir, const TestSettings& settings,
                            size_t max_report) {
  Report report;
  report.pipeline_file = config.file;
  report.golden_dir = golden_dir;
  report.manifest = read_manifest(golden_dir);
  const Json& m = report.manifest;

  // Why outputs may have drifted: another build, other model files, another config.
  std::string version = m.value("embedflow_version", "");
  if (version != EMBEDFLOW_VERSION)
    report.warnings.push_back("the goldens were recorded by embedflow " +
                              (version.empty() ? "(unknown)" : version) + ", this is " +
                              EMBEDFLOW_VERSION);
  std::string hash = stage_config_hash(config);
  if (m.value("config_hash", "") != hash)
    report.warnings.push_back(
        "the pipeline's stages or parameters changed since the goldens were recorded (config "
        "hash " +
        m.value("config_hash", "").substr(0, 12) + " then, " + hash.substr(0, 12) + " now)");
  Json models = model_file_hashes(config);
  Json old_models = m.value("models", Json::object());
  for (auto it = models.begin(); it != models.end(); ++it) {
    const std::string& key = it.key();
    if (!old_models.contains(key)) {
      report.warnings.push_back("model '" + key + "' (" + it.value().value("path", "") +
                                ") was not part of the pipeline when the goldens were recorded");
      continue;
    }
    const Json& was = old_models[key];
    if (was.value("path", "") != it.value().value("path", ""))
      report.warnings.push_back("model '" + key + "' is now " + it.value().value("path", "") +
                                ", was " + was.value("path", ""));
    Json now_files = it.value().value("files", Json::object());
    Json then_files = was.value("files", Json::object());
    for (auto f = now_files.begin(); f != now_files.end(); ++f) {
      if (!then_files.contains(f.key()))
        report.warnings.push_back("model '" + key + "': " + f.key() + " is new");
      else if (then_files[f.key()] != f.value())
        report.warnings.push_back("model '" + key + "': " + f.key() +
                                  " changed since the goldens were recorded (sha256 " +
                                  then_files[f.key()].get<std::string>().substr(0, 12) + " then, " +
                                  f.value().get<std::string>().substr(0, 12) + " now)");
    }
    for (auto f = then_files.begin(); f != then_files.end(); ++f)
      if (!now_files.contains(f.key()))
        report.warnings.push_back("model '" + key + "': " + f.key() + " is gone");
  }
  for (auto it = old_models.begin(); it != old_models.end(); ++it)
    if (!models.contains(it.key()))
      report.warnings.push_back("model '" + it.key() + "' of the goldens is no longer used");

  std::vector<RunOutput> outputs = collect_outputs(config, result);
  std::map<std::string, const RunOutput*> by_path;
  for (const auto& o : outputs) by_path[o.path] = &o;
  std::set<std::string> golden_paths;
  const fs::path gdir(golden_dir);
  for (const auto& entry : m["outputs"]) {
    std::string rel = entry.value("path", "");
    std::string stage = entry.value("stage", "");
    golden_paths.insert(rel);
    auto it = by_path.find(rel);
    if (it == by_path.end()) {
      FileComparison c;
      c.status = FileComparison::Status::Missing;
      c.stage = stage;
      c.path = rel;
      c.note = "in the goldens, not produced by this run";
      report.files.push_back(std::move(c));
      continue;
    }
    const RunOutput& o = *it->second;
    const fs::path golden = gdir / rel;
    FileComparison c;
    std::error_code ec;
    if (!fs::is_regular_file(golden, ec)) {
      c.status = FileComparison::Status::Differ;
      c.mismatch_count = 1;
      c.mismatches.push_back({"file", "",
                              "the golden copy " + golden.string() +
                                  " is gone; record the goldens again with --update"});
    } else {
      const Tolerance tol = settings.for_output(o.stage);
      try {
        if (golden.extension() == ".npy") {
          std::vector<std::string> ids = sidecar_ids(golden.string());
          if (ids.empty()) {
            std::string id = per_item_id(golden, gdir);
            if (!id.empty()) ids = {id};
          }
          c = compare_npy(golden.string(), o.file, tol, max_report, ids);
        } else {
          c = compare_file(golden.string(), o.file, tol, max_report);
        }
      } catch (const std::exception& e) {
        c.status = FileComparison::Status::Differ;
        c.mismatch_count = 1;
        c.mismatches.push_back({"file", "", e.what()});
      }
    }
    c.stage = o.stage;
    c.path = rel;
    report.files.push_back(std::move(c));
  }
  for (const auto& o : outputs) {
    if (golden_paths.count(o.path)) continue;
    FileComparison c;
    c.status = FileComparison::Status::Extra;
    c.stage = o.stage;
    c.path = o.path;
    c.note = "produced by this run, no golden copy (record it with --update)";
    report.files.push_back(std::move(c));
  }

  // Items that fail now but did not then, or the reverse.
  std::set<std::pair<std::string, std::string>> then;
  for (const auto& e : m.value("errors", Json::array()))
    then.insert({e.value("stage", ""), e.value("id", "")});
  std::set<std::pair<std::string, std::string>> now;
  for (const auto& e : read_errors(result)) {
    now.insert({e.stage, e.id});
    if (!then.count({e.stage, e.id}))
      report.error_changes.push_back(
          {"stage '" + e.stage + "'", e.id, "fails now (it did not in the goldens): " + e.message});
  }
  for (const auto& [stage, id] : then)
    if (!now.count({stage, id}))
      report.error_changes.push_back(
          {"stage '" + stage + "'", id, "failed when the goldens were recorded, passes now"});
  return report;
}

bool Report::ok() const {
  return error_changes.empty() &&
         std::all_of(files.begin(), files.end(), [](const FileComparison& f) { return f.ok(); });
}

std::string Report::text() const {
  std::ostringstream out;
  out << "goldens: " << golden_dir << " (recorded " << manifest.value("created", "?")
      << " by embedflow " << manifest.value("embedflow_version", "?") << ")\n";
  for (const auto& w : warnings) out << "warning: " << w << "\n";
  // Matching files are listed one by one, unless a writer has many (a per-item folder may
  // hold thousands): then one line says how many matched, and where.
  constexpr size_t kListedOk = 4;
  std::map<std::string, std::vector<std::string>> ok_paths;  // by stage
  for (const auto& f : files)
    if (f.ok()) ok_paths[f.stage].push_back(f.path);
  std::set<std::string> summarised;
  size_t differ = 0, missing = 0, extra = 0;
  for (const auto& f : files) {
    const std::vector<std::string>& same_stage = ok_paths[f.stage];
    if (f.ok() && same_stage.size() > kListedOk) {
      if (!summarised.insert(f.stage).second) continue;
      fs::path folder = fs::path(same_stage[0]).parent_path();
      for (const auto& p : same_stage) folder = common_ancestor(folder, fs::path(p).parent_path());
      out << "ok  " << same_stage.size() << " files under "
          << (folder.empty() ? "./" : folder.generic_string() + "/") << "  (stage '" << f.stage
          << "')\n";
      continue;
    }
    const char* status = "ok";
    switch (f.status) {
      case FileComparison::Status::Match:
        break;
      case FileComparison::Status::Differ:
        status = "DIFFERS";
        ++differ;
        break;
      case FileComparison::Status::Missing:
        status = "MISSING";
        ++missing;
        break;
      case FileComparison::Status::Extra:
        status = "EXTRA";
        ++extra;
        break;
    }
    out << status << "  " << f.path << "  (stage '" << f.stage << "')";
    if (f.status == FileComparison::Status::Differ) {
      out << ": " << f.mismatch_count << " mismatch" << (f.mismatch_count == 1 ? "" : "es");
    } else if (f.ok() && f.units) {
      out << ": " << f.units << " "
          << (f.kind == "npy"     ? "rows"
              : f.kind == "jsonl" ? "lines"
              : f.kind == "csv"   ? "rows"
                                  : "bytes");
    }
    if (!f.note.empty()) out << (f.ok() ? " — " : "; ") << f.note;
    out << "\n";
    for (const auto& mm : f.mismatches) {
      out << "    " << mm.where;
      if (!mm.id.empty())
        out << " (id " << Json(mm.id).dump(-1, ' ', false, Json::error_handler_t::replace) << ")";
      out << ": " << mm.detail << "\n";
    }
    if (f.mismatch_count > f.mismatches.size())
      out << "    … and " << (f.mismatch_count - f.mismatches.size()) << " more\n";
  }
  if (!error_changes.empty()) {
    out << "DIFFERS  errors (" << error_changes.size() << " item(s) fail differently)\n";
    for (const auto& e : error_changes)
      out << "    " << e.where << " (id "
          << Json(e.id).dump(-1, ' ', false, Json::error_handler_t::replace) << "): " << e.detail
          << "\n";
  }
  if (ok()) {
    out << "PASSED: " << files.size() << " output(s) match the goldens\n";
  } else {
    std::vector<std::string> parts;
    if (differ) parts.push_back(std::to_string(differ) + " differ");
    if (missing) parts.push_back(std::to_string(missing) + " missing");
    if (extra) parts.push_back(std::to_string(extra) + " extra");
    if (!error_changes.empty()) parts.push_back("error records changed");
    out << "FAILED: " << join(parts) << " (of " << files.size() << " output(s))\n";
  }
  return out.str();
}

Json Report::to_json() const {
  Json j;
  j["ok"] = ok();
  j["pipeline_file"] = pipeline_file;
  j["golden_dir"] = golden_dir;
  j["warnings"] = warnings;
  Json fl = Json::array();
  for (const auto& f : files) {
    const char* status = f.status == FileComparison::Status::Match     ? "match"
                         : f.status == FileComparison::Status::Differ  ? "differ"
                         : f.status == FileComparison::Status::Missing ? "missing"
                                                                       : "extra";
    Json mm = Json::array();
    for (const auto& x : f.mismatches)
      mm.push_back({{"where", x.where}, {"id", x.id}, {"detail", x.detail}});
    fl.push_back({{"stage", f.stage},
                  {"path", f.path},
                  {"status", status},
                  {"compared_as", f.kind},
                  {"units", f.units},
                  {"mismatch_count", f.mismatch_count},
                  {"mismatches", mm},
                  {"note", f.note}});
  }
  j["outputs"] = fl;
  Json ec = Json::array();
  for (const auto& e : error_changes)
    ec.push_back({{"where", e.where}, {"id", e.id}, {"detail", e.detail}});
  j["error_changes"] = ec;
  return j;
}

}  // namespace embedflow::regression
