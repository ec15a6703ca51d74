// Which files of a repository a fetch downloads.
#pragma once

#include <string>
#include <vector>

namespace embedflow::hub {

struct FetchOptions;

// Which files of a repository a model needs: everything except the weight formats embedflow does
// not read (ONNX, TF/Keras, Flax, Rust, OpenVINO, Core ML, GGUF) and, when safetensors weights
// exist, the PyTorch pickles they duplicate. `include` globs (fnmatch, `*` crosses '/', a
// trailing '/' means the whole folder) replace this pick; `all_files` keeps everything.
// Returns the kept paths in repository order; the others go to `skipped` when given.
std::vector<std::string> select_files(const std::vector<std::string>& repo_files,
                                      const FetchOptions& options,
                                      std::vector<std::string>* skipped = nullptr);

}  // namespace embedflow::hub
