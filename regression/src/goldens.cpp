// Golden folders: recording a run's outputs with their manifest, and comparing a run with them.
#include "embedflow/regression/goldens.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "common.h"
#include "embedflow/atomic_file.h"
#include "embedflow/hash.h"

namespace fs = std::filesystem;

namespace embedflow::regression {

using namespace detail;

namespace {

fs::path absolute_normal(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  return (ec ? p : a).lexically_normal();
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
                    const std::string& golden_dir, const TestSettings& settings,
                    const RunIdentity& identity) {
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
                   {"config_hash", identity.config_hash},
                   {"models", identity.models},
                   {"tolerances", settings.to_json()},
                   {"items", result.items},
                   {"errors", errors},
                   {"outputs", listed}};
  AtomicFile f((fs::path(golden_dir) / kManifestName).string());
  f.write(manifest.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  f.commit();
  return manifest;
}

namespace {

// Why outputs may have drifted: another build, another config, other model files.
std::vector<std::string> identity_warnings(const Json& m, const RunIdentity& identity) {
  std::vector<std::string> warnings;
  std::string version = m.value("embedflow_version", "");
  if (version != EMBEDFLOW_VERSION)
    warnings.push_back("the goldens were recorded by embedflow " +
                       (version.empty() ? "(unknown)" : version) + ", this is " +
                       EMBEDFLOW_VERSION);
  const std::string& hash = identity.config_hash;
  if (m.value("config_hash", "") != hash)
    warnings.push_back(
        "the pipeline's stages or parameters changed since the goldens were recorded (config "
        "hash " +
        m.value("config_hash", "").substr(0, 12) + " then, " + hash.substr(0, 12) + " now)");
  const Json& models = identity.models;
  Json old_models = m.value("models", Json::object());
  for (auto it = models.begin(); it != models.end(); ++it) {
    const std::string& key = it.key();
    if (!old_models.contains(key)) {
      warnings.push_back("model '" + key + "' (" + it.value().value("path", "") +
                         ") was not part of the pipeline when the goldens were recorded");
      continue;
    }
    const Json& was = old_models[key];
    if (was.value("path", "") != it.value().value("path", ""))
      warnings.push_back("model '" + key + "' is now " + it.value().value("path", "") + ", was " +
                         was.value("path", ""));
    Json now_files = it.value().value("files", Json::object());
    Json then_files = was.value("files", Json::object());
    for (auto f = now_files.begin(); f != now_files.end(); ++f) {
      if (!then_files.contains(f.key()))
        warnings.push_back("model '" + key + "': " + f.key() + " is new");
      else if (then_files[f.key()] != f.value())
        warnings.push_back("model '" + key + "': " + f.key() +
                           " changed since the goldens were recorded (sha256 " +
                           then_files[f.key()].get<std::string>().substr(0, 12) + " then, " +
                           f.value().get<std::string>().substr(0, 12) + " now)");
    }
    for (auto f = then_files.begin(); f != then_files.end(); ++f)
      if (!now_files.contains(f.key()))
        warnings.push_back("model '" + key + "': " + f.key() + " is gone");
  }
  for (auto it = old_models.begin(); it != old_models.end(); ++it)
    if (!models.contains(it.key()))
      warnings.push_back("model '" + it.key() + "' of the goldens is no longer used");
  return warnings;
}

// One output against its golden copy `gdir`/`o.path`.
FileComparison compare_output(const RunOutput& o, const fs::path& gdir, const Tolerance& tol,
                              size_t max_report) {
  const fs::path golden = gdir / o.path;
  FileComparison c;
  std::error_code ec;
  if (!fs::is_regular_file(golden, ec)) {
    c.status = FileComparison::Status::Differ;
    c.mismatch_count = 1;
    c.mismatches.push_back({"file", "",
                            "the golden copy " + golden.string() +
                                " is gone; record the goldens again with --update"});
  } else {
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
  c.path = o.path;
  return c;
}

FileComparison not_compared(FileComparison::Status status, std::string stage, std::string path,
                            std::string note) {
  FileComparison c;
  c.status = status;
  c.stage = std::move(stage);
  c.path = std::move(path);
  c.note = std::move(note);
  return c;
}

// Items that fail now but did not then, or the reverse.
std::vector<Mismatch> error_changes(const Json& manifest, const RunResult& result) {
  std::vector<Mismatch> changes;
  std::set<std::pair<std::string, std::string>> then;
  for (const auto& e : manifest.value("errors", Json::array()))
    then.insert({e.value("stage", ""), e.value("id", "")});
  std::set<std::pair<std::string, std::string>> now;
  for (const auto& e : read_errors(result)) {
    now.insert({e.stage, e.id});
    if (!then.count({e.stage, e.id}))
      changes.push_back(
          {"stage '" + e.stage + "'", e.id, "fails now (it did not in the goldens): " + e.message});
  }
  for (const auto& [stage, id] : then)
    if (!now.count({stage, id}))
      changes.push_back(
          {"stage '" + stage + "'", id, "failed when the goldens were recorded, passes now"});
  return changes;
}

}  // namespace

Report compare_with_goldens(const PipelineConfig& config, const RunResult& result,
                            const std::string& golden_dir, const TestSettings& settings,
                            const RunIdentity& identity, size_t max_report) {
  Report report;
  report.pipeline_file = config.file;
  report.golden_dir = golden_dir;
  report.manifest = read_manifest(golden_dir);
  report.warnings = identity_warnings(report.manifest, identity);

  std::vector<RunOutput> outputs = collect_outputs(config, result);
  std::map<std::string, const RunOutput*> by_path;
  for (const auto& o : outputs) by_path[o.path] = &o;
  std::set<std::string> golden_paths;
  for (const auto& entry : report.manifest["outputs"]) {
    std::string rel = entry.value("path", "");
    golden_paths.insert(rel);
    auto it = by_path.find(rel);
    if (it == by_path.end())
      report.files.push_back(not_compared(FileComparison::Status::Missing, entry.value("stage", ""),
                                          rel, "in the goldens, not produced by this run"));
    else
      report.files.push_back(compare_output(*it->second, fs::path(golden_dir),
                                            settings.for_output(it->second->stage), max_report));
  }
  for (const auto& o : outputs)
    if (!golden_paths.count(o.path))
      report.files.push_back(
          not_compared(FileComparison::Status::Extra, o.stage, o.path,
                       "produced by this run, no golden copy (record it with --update)"));
  report.error_changes = error_changes(report.manifest, result);
  return report;
}

}  // namespace embedflow::regression
