// Shared by the hub tests: a private Hugging Face home per test, and the fixture repository.
#pragma once

#include <cstdlib>
#include <set>
#include <string>

#include "tests/support/test_support.h"

namespace embedflow::test {

inline const char* kRepo = "embedflow-test/tiny-st";

// The fixture repository as served (tests/fixtures/hub/repos/embedflow-test/tiny-st).
inline std::string fixture_file(const std::string& path) {
  return source_path("tests/fixtures/hub/repos/embedflow-test/tiny-st/" + path);
}

// What a default fetch keeps and leaves out of it.
inline const std::set<std::string> kDefaultFiles = {"1_Pooling/config.json",
                                                    "2_Dense/config.json",
                                                    "2_Dense/pytorch_model.bin",
                                                    "README.md",
                                                    "config.json",
                                                    "model.safetensors",
                                                    "modules.json",
                                                    "sentence_bert_config.json",
                                                    "special_tokens_map.json",
                                                    "tokenizer_config.json",
                                                    "vocab.txt"};
inline const std::set<std::string> kSkippedFiles = {"onnx/model.onnx", "pytorch_model.bin"};

// HF_HOME points to a fresh folder; every other hub variable is cleared for the test's duration.
class HubEnv {
 public:
  HubEnv() : home_("hf-home") {
    clear();
    ::setenv("HF_HOME", home_.path().c_str(), 1);
  }
  ~HubEnv() {
    clear();
    ::unsetenv("HF_HOME");
  }
  const std::string& home() const { return home_.path(); }
  std::string cache() const { return home_.path() + "/hub"; }
  std::string repo_dir() const { return cache() + "/models--embedflow-test--tiny-st"; }

 private:
  static void clear() {
    for (const char* v : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN",
                          "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE",
                          "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME"})
      ::unsetenv(v);
  }
  TempDir home_;
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
