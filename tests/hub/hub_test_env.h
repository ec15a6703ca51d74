// Shared by the hub tests: a private Hugging Face home per test, and the fixture repository.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

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

}  // namespace embedflow::test
