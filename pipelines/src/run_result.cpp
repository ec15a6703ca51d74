// RunResult rendered for people (the summary table) and for tools (--stats JSON).
#include <cstdio>

#include "embedflow/executor.h"

namespace embedflow {

Json RunResult::to_json() const {
  Json j;
  j["status"] = status == Status::Ok ? "ok" : status == Status::Stopped ? "stopped" : "failed";
  if (!message.empty()) j["message"] = message;
  j["items"] = items;
  j["errors"] = errors;
  if (!errors_file.empty()) j["errors_file"] = errors_file;
  j["seconds"] = seconds;
  j["items_per_second"] = seconds > 0 ? double(items) / seconds : 0.0;
  j["open_seconds"] = open_seconds;
  j["threads"] = threads;
  j["max_in_flight"] = max_in_flight;
  j["peak_in_flight"] = peak_in_flight;
  j["outputs"] = outputs;
  Json st = Json::array();
  for (const auto& s : stages) {
    Json e = {{"id", s.id},
              {"type", s.type},
              {"items", s.items},
              {"errors", s.errors},
              {"busy_seconds", s.busy_seconds},
              {"calls", s.calls},
              {"mean_batch", s.mean_batch()},
              {"concurrency", s.concurrency}};
    if (s.threads) e["threads"] = s.threads;
    if (!s.description.empty()) e["description"] = s.description;
    st.push_back(e);
  }
  j["stages"] = st;
  return j;
}

std::string RunResult::summary_table() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-18s %-20s %10s %8s %10s %10s\n", "stage", "type", "items",
                "errors", "busy s", "mean batch");
  out += line;
  for (const auto& s : stages) {
    std::snprintf(line, sizeof line, "%-18s %-20s %10llu %8llu %10.3f %10.1f\n", s.id.c_str(),
                  s.type.c_str(), static_cast<unsigned long long>(s.items),
                  static_cast<unsigned long long>(s.errors), s.busy_seconds, s.mean_batch());
    out += line;
  }
  std::snprintf(line, sizeof line,
                "%llu items in %.2f s (%.1f items/s; %.2f s of it opening stages and models), "
                "%llu errors, %d threads\n",
                static_cast<unsigned long long>(items), seconds,
                seconds > 0 ? double(items) / seconds : 0.0, open_seconds,
                static_cast<unsigned long long>(errors), threads);
  out += line;
  for (const auto& s : stages)
    if (!s.description.empty()) out += s.id + ": " + s.description + "\n";
  return out;
}

}  // namespace embedflow
