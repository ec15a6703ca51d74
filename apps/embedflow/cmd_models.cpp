#include "apps/embedflow/commands.h"
#include "embedflow/strings.h"

#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "embedflow/hub/hub.h"

namespace embedflow::cli {

namespace {

int report(const hub::HubError& e) {
  std::cerr << "error: " << e.what() << "\n";
  return e.kind() == hub::HubError::Kind::Invalid ? kExitInvalid : kExitFailed;
}

struct FetchArgs {
  std::string repo;
  hub::FetchOptions options;
  std::string progress = "auto";
};

int run_fetch(const FetchArgs& a) {
  hub::FetchOptions o = a.options;
  o.progress = progress_mode(a.progress);
  try {
    hub::FetchResult r = hub::fetch_model(a.repo, o);
    size_t fetched = 0;
    for (const auto& f : r.files) fetched += f.downloaded;
    std::cerr << r.repo_id << " @ " << o.revision << " (commit " << r.commit
              << "): " << r.files.size() << " files, " << fetched << " downloaded ("
              << hub::format_bytes(r.bytes_downloaded) << ")"
              << (fetched == 0 ? ", already up to date" : "") << "\n";
    std::vector<std::string> unneeded, runs_code;
    for (const auto& p : r.skipped) (hub::loading_runs_code(p) ? runs_code : unneeded).push_back(p);
    if (!unneeded.empty())
      std::cerr << "left out " << unneeded.size() << " file(s) a model does not need ("
                << join(unneeded, ", ", 4) << "): --all-files or --include fetches them\n";
    if (!runs_code.empty())
      std::cerr << "left out " << runs_code.size()
                << " PyTorch pickle/TorchScript file(s), whose loading can run arbitrary code ("
                << join(runs_code, ", ", 4)
                << "): --include 'NAME' fetches one explicitly if you trust its source\n";
    if (!r.unverified.empty())
      std::cerr << "could not verify " << r.unverified.size() << " file(s) ("
                << join(r.unverified, ", ", 4)
                << "): the server's ETag is neither a sha256 nor a git sha1, so only their size "
                   "was checked\n";
    std::cout << r.dir << "\n";  // stdout is just the folder, for scripts
    return kExitOk;
  } catch (const hub::HubError& e) {
    return report(e);
  }
}

int run_list(bool json) {
  const std::string cache = hub::hub_cache_dir();
  std::vector<hub::CachedRepo> repos = hub::list_cached_models(cache);
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : repos) {
      nlohmann::json revs = nlohmann::json::array();
      for (const auto& v : r.revisions)
        revs.push_back({{"commit", v.commit}, {"refs", v.refs}, {"files", v.files}});
      out.push_back({{"id", r.repo_id},
                     {"path", r.dir},
                     {"revisions", revs},
                     {"size_on_disk", r.size_on_disk},
                     {"incomplete_downloads", r.incomplete}});
    }
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (repos.empty()) {
    std::cout << "no models in the cache " << cache
              << " (fetch one with: embedflow models fetch org/name)\n";
    return kExitOk;
  }
  size_t id_width = 5;
  for (const auto& r : repos) id_width = std::max(id_width, r.repo_id.size());
  auto row = [&](const std::string& id, const std::string& rev, const std::string& refs,
                 const std::string& files, const std::string& size) {
    std::printf("%-*s  %-12s  %-16s  %5s  %10s\n", int(id_width), id.c_str(), rev.c_str(),
                refs.c_str(), files.c_str(), size.c_str());
  };
  row("MODEL", "REVISION", "REFS", "FILES", "SIZE");
  uint64_t total = 0;
  size_t incomplete = 0;
  for (const auto& r : repos) {
    total += r.size_on_disk;
    incomplete += r.incomplete;
    const std::string size = hub::format_bytes(r.size_on_disk);
    if (r.revisions.empty()) row(r.repo_id, "-", "", "0", size);
    for (size_t i = 0; i < r.revisions.size(); ++i) {
      const auto& v = r.revisions[i];
      row(r.repo_id, v.commit.substr(0, 12), v.refs.empty() ? "-" : join(v.refs, ","),
          std::to_string(v.files), i == 0 ? size : "");
    }
  }
  std::printf("%zu model%s, %s in %s\n", repos.size(), repos.size() == 1 ? "" : "s",
              hub::format_bytes(total).c_str(), cache.c_str());
  if (incomplete)
    std::printf("%zu unfinished download%s: run the fetch again to resume\n", incomplete,
                incomplete == 1 ? "" : "s");
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

void add_models_commands(CLI::App& app, CommandList& commands) {
  auto* models = app.add_subcommand(
      "models", "Models from the Hugging Face hub, in the cache shared with Python");
  models->require_subcommand(1);

  auto fetch_args = std::make_shared<FetchArgs>();
  auto* fetch = models->add_subcommand(
      "fetch",
      "Download the files a model needs into the Hugging Face cache ($HF_HUB_CACHE, "
      "$HF_HOME/hub or ~/.cache/huggingface/hub) from $HF_ENDPOINT (token: $HF_TOKEN); prints "
      "the model folder");
  fetch
      ->add_option("repo", fetch_args->repo,
                   "Hub model id, e.g. sentence-transformers/all-MiniLM-L6-v2")
      ->required();
  fetch->add_option("--revision,-r", fetch_args->options.revision, "Branch, tag or commit hash")
      ->capture_default_str();
  fetch->add_option("--to", fetch_args->options.to_dir,
                    "Write a plain folder here instead of the cache (resumable; reruns skip "
                    "files already there)");
  auto* include = fetch->add_option(
      "--include", fetch_args->options.include,
      "Only files matching this glob (repeatable; '*' crosses '/', 'dir/' means the folder); "
      "replaces the default pick");
  fetch
      ->add_flag("--all-files", fetch_args->options.all_files,
                 "Every file, also ONNX/TF/Flax exports and PyTorch pickles duplicating "
                 "safetensors weights")
      ->excludes(include);
  fetch->add_option("--endpoint", fetch_args->options.endpoint,
                    "Hub URL (default: $HF_ENDPOINT, else https://huggingface.co)");
  fetch
      ->add_option("--progress", fetch_args->progress,
                   "Progress bar on a terminal (auto), always (on) or never (off)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  commands.push_back({fetch, [fetch_args] { return run_fetch(*fetch_args); }});

  auto json = std::make_shared<bool>(false);
  auto* list = models->add_subcommand("list", "Show the models in the Hugging Face cache");
  list->add_flag("--json", *json, "Machine-readable output");
  commands.push_back({list, [json] { return run_list(*json); }});

  auto spec = std::make_shared<std::string>();
  auto* path = models->add_subcommand(
      "path", "Print the local folder a model path or hub id (org/name[@revision]) resolves to");
  path->add_option("model", *spec, "A path, or a cached hub id")->required();
  commands.push_back({path, [spec] {
                        try {
                          std::cout << hub::resolve_model_path(*spec) << "\n";
                          return kExitOk;
                        } catch (const hub::HubError& e) {
                          return report(e);
                        }
                      }});
}

}  // namespace embedflow::cli
