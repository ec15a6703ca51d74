#include "embedflow/hub/select.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include <fnmatch.h>

#include "embedflow/hub/fetch.h"

namespace embedflow::hub {

namespace {

std::string lower_extension(const std::string& path) {
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// fnmatch without FNM_PATHNAME, so `*` crosses '/' as in huggingface_hub's allow_patterns.
bool glob_match(std::string pattern, const std::string& path) {
  if (!pattern.empty() && pattern.back() == '/') pattern += '*';
  return ::fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
}

// PyTorch pickles and TorchScript archives: unpickling them can run arbitrary code.
const std::set<std::string> kPickleExt = {".bin", ".pt", ".pth", ".ckpt", ".pkl"};

}  // namespace

bool loading_runs_code(const std::string& path) {
  return kPickleExt.count(lower_extension(path)) > 0;
}

std::vector<std::string> select_files(const std::vector<std::string>& repo_files,
                                      const FetchOptions& options,
                                      std::vector<std::string>* skipped) {
  // Formats embedflow never reads; folders of exported models.
  static const std::set<std::string> kForeignExt = {".onnx", ".onnx_data", ".h5",   ".msgpack",
                                                    ".ot",   ".tflite",    ".gguf", ".mlmodel"};
  static const std::set<std::string> kForeignDirs = {"onnx", "openvino", "coreml"};

  std::vector<std::string> keep;
  for (const auto& p : repo_files) {
    bool wanted;
    if (options.all_files) {
      wanted = true;
    } else if (!options.include.empty()) {
      wanted = std::any_of(options.include.begin(), options.include.end(),
                           [&](const std::string& g) { return glob_match(g, p); });
    } else {
      const std::string ext = lower_extension(p);
      bool foreign_dir = false;
      std::stringstream ss(parent_of(p));
      std::string part;
      while (std::getline(ss, part, '/')) foreign_dir = foreign_dir || kForeignDirs.count(part);
      // Pickles only when asked for by name, even as a model's only weights: fetching is not
      // loading, but a default that brings code-running files invites loading them.
      wanted = !foreign_dir && !kForeignExt.count(ext) && !loading_runs_code(p);
    }
    if (wanted)
      keep.push_back(p);
    else if (skipped)
      skipped->push_back(p);
  }
  return keep;
}

}  // namespace embedflow::hub
