// Shared by the hub tests: a private Hugging Face home per test, and the fixture repository.
#pragma once

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include <sys/resource.h>

#include "embedflow/hub/hub.h"
#include "tests/support/test_support.h"

namespace embedflow::test {

inline const char* kRepo = "embedflow-test/tiny-st";

// The fixture repository as served (tests/fixtures/hub/repos/embedflow-test/tiny-st).
inline std::string fixture_file(const std::string& path) {
  return source_path("tests/fixtures/hub/repos/embedflow-test/tiny-st/" + path);
}

// What a default fetch keeps and leaves out of it (pickles, even a module's only weights, are
// fetched only when asked for).
inline const std::set<std::string> kDefaultFiles = {"1_Pooling/config.json",
                                                    "2_Dense/config.json",
                                                    "README.md",
                                                    "config.json",
                                                    "model.safetensors",
                                                    "modules.json",
                                                    "sentence_bert_config.json",
                                                    "special_tokens_map.json",
                                                    "tokenizer_config.json",
                                                    "vocab.txt"};
inline const std::set<std::string> kSkippedFiles = {"2_Dense/pytorch_model.bin", "onnx/model.onnx",
                                                    "pytorch_model.bin"};

// HF_HOME points to a fresh folder (home/ of a sandbox folder); every other hub variable is
// cleared for the test's duration.
class HubEnv {
 public:
  HubEnv() : root_("hub-sandbox"), home_(root_.path() + "/home") {
    clear();
    std::filesystem::create_directories(home_);
    ::setenv("HF_HOME", home_.c_str(), 1);
  }
  ~HubEnv() {
    clear();
    ::unsetenv("HF_HOME");
  }
  const std::string& home() const { return home_; }
  std::string cache() const { return home_ + "/hub"; }
  std::string repo_dir() const { return cache() + "/models--embedflow-test--tiny-st"; }
  // The sandbox HF_HOME is in: tests put --to folders here, and hostile answers aim at it.
  const std::string& sandbox() const { return root_.path(); }

  // Everything in the sandbox outside the cache and `allowed` (a --to folder): what a fetch must
  // never write, whatever the server says.
  std::set<std::string> outside_cache(const std::string& allowed = "") const {
    namespace fs = std::filesystem;
    std::set<std::string> out;
    const fs::path cache_dir = cache();
    for (auto it = fs::recursive_directory_iterator(root_.path());
         it != fs::recursive_directory_iterator(); ++it) {
      const fs::path p = it->path();
      if (p == cache_dir || (!allowed.empty() && p == fs::path(allowed))) {
        it.disable_recursion_pending();
        continue;
      }
      if (p != fs::path(home_)) out.insert(p.lexically_relative(root_.path()).generic_string());
    }
    return out;
  }

 private:
  static void clear() {
    for (const char* v : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN",
                          "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE",
                          "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME"})
      ::unsetenv(v);
  }
  TempDir root_;
  std::string home_;
};

// Git's blob id of a file, computed by Python (an oracle independent of the C++ code).
inline std::string git_blob_sha1(const std::string& path) {
  CommandResult r = run_command(std::string(EMBEDFLOW_REFERENCE_PYTHON) +
                                " -c \"import hashlib,sys; d=open(sys.argv[1],'rb').read(); "
                                "print(hashlib.sha1(b'blob %d\\0' % len(d) + d).hexdigest())\" '" +
                                path + "'");
  if (r.exit_code != 0) return "python failed: " + r.output;
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == '\r'))
    r.output.pop_back();
  return r.output;
}

// Every file under `dir`, as paths relative to it.
inline std::set<std::string> tree(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::set<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (!e.is_directory()) out.insert(e.path().lexically_relative(dir).generic_string());
  return out;
}

// The bytes of every file the fixture repository serves.
inline std::set<std::string> fixture_contents() {
  std::set<std::string> out;
  const std::filesystem::path root = fixture_file("");
  for (const auto& e : std::filesystem::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.insert(read_file(e.path().string()));
  return out;
}

// What may be in the cache at any moment: under blobs/, whole copies of served files (plus
// `.incomplete` downloads and `.lock` files, which are never read as models); every snapshot
// entry that resolves is the served file of its name, byte for byte.
inline void check_cache_whole(const HubEnv& env, const std::set<std::string>& served) {
  const std::filesystem::path blobs = std::filesystem::path(env.repo_dir()) / "blobs";
  for (const auto& rel : tree(blobs)) {
    if (rel.size() > 11 && rel.compare(rel.size() - 11, 11, ".incomplete") == 0) continue;
    if (rel.size() > 5 && rel.compare(rel.size() - 5, 5, ".lock") == 0) continue;
    INFO("blob " << rel);
    CHECK(served.count(read_file((blobs / rel).string())) == 1);
  }
  const std::filesystem::path snapshots = std::filesystem::path(env.repo_dir()) / "snapshots";
  if (!std::filesystem::exists(snapshots)) return;
  for (const auto& snap : std::filesystem::directory_iterator(snapshots))
    for (const auto& rel : tree(snap.path())) {
      const std::filesystem::path entry = snap.path() / rel;
      if (rel.size() > 5 && rel.compare(rel.size() - 5, 5, ".lock") == 0) continue;
      if (!std::filesystem::exists(entry))
        continue;  // a link whose blob is not there yet is not a model file
      INFO("snapshot entry " << rel);
      CHECK(read_file(entry.string()) == read_file(fixture_file(rel)));
    }
}

// The kind of HubError fetch_model throws, and its message; fails the test when it succeeds.
inline hub::HubError::Kind fetch_error_kind(const std::string& repo, const hub::FetchOptions& o,
                                            std::string& message) {
  try {
    hub::fetch_model(repo, o);
  } catch (const hub::HubError& e) {
    message = e.what();
    return e.kind();
  }
  FAIL("fetch_model(" << repo << ") did not throw");
  return hub::HubError::Kind::Invalid;
}

// A file size limit for the test process while it lives: it stands in for a full disk (writes
// past `bytes` fail with EFBIG instead of killing the process with SIGXFSZ).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limited = old_;
    limited.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limited);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
};

}  // namespace embedflow::test
