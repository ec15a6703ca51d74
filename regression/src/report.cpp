// The report of a comparison: readable for the terminal, JSON for CI.
#include "embedflow/regression/report.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "common.h"
#include "embedflow/strings.h"

namespace fs = std::filesystem;

namespace embedflow::regression {

using namespace detail;

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
    out << "FAILED: " << join(parts, ", ") << " (of " << files.size() << " output(s))\n";
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
