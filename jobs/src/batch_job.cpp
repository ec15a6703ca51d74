#include "embedflow/jobs/batch_job.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <regex>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include "embedflow/atomic_file.h"
#include "embedflow/executor.h"
#include "embedflow/hash.h"
#include "embedflow/jobs/spool.h"
#include "embedflow/output_lock.h"

namespace fs = std::filesystem;

namespace embedflow::jobs {

std::string ShardSpec::dir_name() const {
  return "shard-" + std::to_string(index) + "-of-" + std::to_string(count);
}

ShardSpec parse_shard(const std::string& text) {
  std::smatch m;
  static const std::regex re("^\\s*(\\d+)\\s*/\\s*(\\d+)\\s*$");
  if (!std::regex_match(text, m, re))
    throw std::invalid_argument("--shard expects I/N (e.g. 3/16), got '" + text + "'");
  ShardSpec s{std::stoi(m[1]), std::stoi(m[2])};
  if (s.count < 1 || s.index < 0 || s.index >= s.count)
    throw std::invalid_argument("--shard " + text + ": the index must be in 0.." +
                                std::to_string(s.count - 1));
  return s;
}

std::optional<ShardSpec> shard_from_environment(int num_shards) {
  auto env_int = [](const char* name) -> std::optional<int> {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::atoi(v);
  };
  if (auto id = env_int("SLURM_ARRAY_TASK_ID")) {
    int min = env_int("SLURM_ARRAY_TASK_MIN").value_or(0);
    int count = num_shards > 0 ? num_shards : env_int("SLURM_ARRAY_TASK_COUNT").value_or(0);
    if (count <= 0)
      throw std::invalid_argument(
          "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --num-shards N");
    return ShardSpec{*id - min, count};
  }
  if (auto idx = env_int("JOB_COMPLETION_INDEX")) {
    if (num_shards <= 0)
      throw std::invalid_argument(
          "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job): pass --num-shards N");
    return ShardSpec{*idx, num_shards};
  }
  return std::nullopt;
}

uint64_t stable_id_hash(const std::string& id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string item_fingerprint(const Item& item) {
  std::string content;
  if (item.kind == Kind::Text) {
    content = "text:" + sha256_hex(item.text);
  } else if (item.kind == Kind::File) {
    struct stat st {};
    if (::stat(item.source.c_str(), &st) == 0)
      content = "file:" + item.source + ":" + std::to_string(st.st_size) + ":" +
                std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    else
      content = "file:" + item.source + ":missing";
  }
  return sha256_hex(item.id + '\0' + content).substr(0, 16);
}

std::string job_dir(const PipelineConfig& config, const ShardSpec& shard) {
  fs::path out = run_output_dir(config);
  return (out / (shard.active() ? shard.dir_name() : ".embedflow")).string();
}

namespace {

// One part file of one sink: records sorted by source position.
struct PartStream {
  std::unique_ptr<SpoolReader> reader;
  int attempt = 0;
  Item head;
  bool has = false;
  void advance() { has = reader->next(head); }
};

std::vector<PartStream> open_parts(const std::vector<std::string>& roots,
                                   const std::string& stage) {
  static const std::regex name_re("part-(\\d+)-a(\\d+)\\.items");
  std::vector<PartStream> parts;
  for (const auto& root : roots) {
    fs::path dir = fs::path(root) / "parts" / stage;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::smatch m;
      std::string name = f.filename().string();
      if (!std::regex_match(name, m, name_re)) continue;  // temporaries of a killed run
      PartStream ps;
      ps.reader = std::make_unique<SpoolReader>(f.string());
      ps.attempt = std::stoi(m[2]);
      ps.advance();
      if (ps.has) parts.push_back(std::move(ps));
    }
  }
  return parts;
}

// A writer as the run configured it (parameters already validated and expanded).
struct SinkSpec {
  std::string id;
  const StageType* type;
  Params params;
};

// The record the engine's error log writes for an item a writer rejected (error_log.cpp).
std::string rejection_record(const Item& item, const std::string& stage, const char* message) {
  return Json{{"id", item.id},
              {"source", item.source},
              {"index", item.index},
              {"stage", stage},
              {"error", message}}
      .dump();
}

std::vector<std::string> assemble_sinks(const std::vector<SinkSpec>& sinks,
                                        const std::string& out_dir,
                                        const std::string& pipeline_file,
                                        const std::vector<std::string>& part_roots,
                                        std::vector<std::string>* rejected,
                                        std::map<std::string, uint64_t>* written = nullptr) {
  std::vector<std::string> outputs;
  for (const auto& sc : sinks) {
    auto stage = sc.type->factory(sc.params);
    auto* sink = dynamic_cast<SinkStage*>(stage.get());
    StageContext ctx;
    ctx.stage_id = sc.id;
    ctx.pipeline_file = pipeline_file;
    ctx.output_dir = out_dir;
    sink->open(ctx);
    std::vector<PartStream> parts = open_parts(part_roots, sc.id);
    // k-way merge by source position. A position redone by a later attempt (a part that was
    // committed but not yet journaled when the run died) takes that attempt's records.
    for (;;) {
      uint64_t next = UINT64_MAX;
      for (const auto& p : parts)
        if (p.has) next = std::min(next, p.head.index);
      if (next == UINT64_MAX) break;
      int best = -1;
      for (size_t i = 0; i < parts.size(); ++i)
        if (parts[i].has && parts[i].head.index == next &&
            (best < 0 || parts[i].attempt > parts[static_cast<size_t>(best)].attempt))
          best = static_cast<int>(i);
      for (size_t i = 0; i < parts.size(); ++i) {
        while (parts[i].has && parts[i].head.index == next) {
          if (static_cast<int>(i) == best) {
            // The writer rejects an item (a shape mismatch) here as it would in a direct run,
            // which logs it: the spooled run never gave it to the writer, so nothing has yet.
            try {
              sink->write(parts[i].head);
              if (written) ++(*written)[sc.id];
            } catch (const ItemFailure& e) {
              if (rejected) rejected->push_back(rejection_record(parts[i].head, sc.id, e.what()));
            } catch (const std::invalid_argument& e) {
              if (rejected) rejected->push_back(rejection_record(parts[i].head, sc.id, e.what()));
            }
          }
          parts[i].advance();
        }
      }
    }
    sink->finish(true);
    sink->close();
    for (const auto& o : sink->outputs()) outputs.push_back(o);
  }
  return outputs;
}

}  // namespace

Json sink_manifest(const PipelineConfig& config) {
  Json sinks = Json::array();
  for (const auto& sc : config.stages)
    if (sc.stage_type->schema.kind == StageKind::Sink)
      sinks.push_back({{"id", sc.id}, {"type", sc.type}, {"params", sc.params.values()}});
  return sinks;
}

std::vector<std::string> assemble_outputs(const PipelineConfig& config,
                                          const std::vector<std::string>& part_roots,
                                          std::vector<std::string>* rejected,
                                          std::map<std::string, uint64_t>* written) {
  std::vector<SinkSpec> sinks;
  for (const auto& sc : config.stages)
    if (sc.stage_type->schema.kind == StageKind::Sink)
      sinks.push_back({sc.id, sc.stage_type, sc.params});
  return assemble_sinks(sinks, run_output_dir(config), config.file, part_roots, rejected, written);
}

size_t write_error_records(const std::string& path, std::vector<std::string> records) {
  std::vector<std::pair<uint64_t, std::string>> by_index;
  for (auto& line : records) {
    const Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;  // a line cut short by a kill
    by_index.emplace_back(j.value("index", uint64_t(0)), std::move(line));
  }
  std::stable_sort(by_index.begin(), by_index.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  if (by_index.empty()) {
    // An earlier run's records would describe outputs that this job has replaced.
    std::error_code ec;
    fs::remove(path, ec);
    return 0;
  }
  AtomicFile f(path);
  for (const auto& r : by_index) f.write(r.second + "\n");
  f.commit();
  return by_index.size();
}

int merge_shards(const std::string& out_dir, const Registry& registry, std::ostream& report) {
  static const std::regex shard_re("shard-(\\d+)-of-(\\d+)");
  std::map<int, std::set<int>> found;  // count → indices present
  std::error_code ec;
  if (!fs::is_directory(out_dir, ec)) {
    report << "error: " << out_dir << " is not a folder\n";
    return 1;
  }
  for (const auto& e : fs::directory_iterator(out_dir)) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (e.is_directory() && std::regex_match(name, m, shard_re))
      found[std::stoi(m[2])].insert(std::stoi(m[1]));
  }
  if (found.empty()) {
    report << "error: no shard-I-of-N folders in " << out_dir << "\n";
    return 1;
  }
  // The merge writes the final outputs: not while another run or merge writes into the folder.
  OutputLock lock(out_dir);
  if (found.size() > 1) {
    report << "error: " << out_dir << " mixes shard counts:";
    for (const auto& kv : found) report << " " << kv.first;
    report << " (remove the folders of the old run)\n";
    return 1;
  }
  const int count = found.begin()->first;
  std::vector<int> missing, incomplete;
  std::vector<std::string> roots;
  Json first_manifest;
  for (int i = 0; i < count; ++i) {
    fs::path dir = fs::path(out_dir) / ShardSpec{i, count}.dir_name();
    if (!found.begin()->second.count(i)) {
      missing.push_back(i);
      continue;
    }
    fs::path marker = dir / "_SUCCESS.json";
    if (!fs::exists(marker)) {
      incomplete.push_back(i);
      continue;
    }
    std::ifstream in(marker);
    Json manifest = Json::parse(in);
    if (first_manifest.is_null())
      first_manifest = manifest;
    else if (manifest["config_hash"] != first_manifest["config_hash"]) {
      report << "error: shard " << i << " ran another configuration (config hash "
             << manifest["config_hash"].get<std::string>().substr(0, 12) << " vs "
             << first_manifest["config_hash"].get<std::string>().substr(0, 12) << ")\n";
      return 1;
    }
    roots.push_back(dir.string());
  }
  auto list = [](const std::vector<int>& v) {
    std::string s;
    for (int i : v) s += (s.empty() ? "" : ", ") + std::to_string(i);
    return s;
  };
  if (!missing.empty() || !incomplete.empty()) {
    if (!missing.empty())
      report << "error: missing shards (no folder): " << list(missing) << " of " << count << "\n";
    if (!incomplete.empty())
      report << "error: incomplete shards (no _SUCCESS.json; rerun them with --resume): "
             << list(incomplete) << " of " << count << "\n";
    return 1;
  }
  // The writers exactly as the shards were configured (variables already expanded), run from
  // the folder the shards ran in, so relative paths mean what they meant then.
  std::vector<SinkSpec> sinks;
  for (const auto& j : first_manifest["sinks"]) {
    const StageType* type = registry.find(j["type"].get<std::string>());
    if (!type) {
      report << "error: this embedflow has no stage type " << j["type"] << "\n";
      return 1;
    }
    std::string id = j["id"].get<std::string>();
    sinks.push_back({id, type, Params(id, j["params"], {})});
  }
  fs::path cwd = fs::current_path();
  fs::current_path(first_manifest["cwd"].get<std::string>());
  // Error records of all shards (each shard's holds one record per failed item), then those of
  // items the writers reject now; written in source order.
  std::vector<std::string> errors;
  std::vector<std::string> outputs =
      assemble_sinks(sinks, first_manifest["output_dir"].get<std::string>(),
                     first_manifest["pipeline_file"].get<std::string>(), roots, &errors);
  for (const auto& root : roots) {
    std::ifstream in(fs::path(root) / "errors.jsonl");
    for (std::string line; std::getline(in, line);) errors.push_back(line);
  }
  std::string errors_path = first_manifest["errors_path"].get<std::string>();
  const size_t error_count = write_error_records(errors_path, std::move(errors));
  fs::current_path(cwd);
  report << "merged " << count << " shards into:";
  for (const auto& o : outputs) report << " " << o;
  report << "\n";
  if (error_count) report << error_count << " error records in " << errors_path << "\n";
  return 0;
}

}  // namespace embedflow::jobs
