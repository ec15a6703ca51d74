// Which files of a repository a fetch downloads.
#pragma once

#include <string>
#include <vector>

namespace embedflow::hub {

struct FetchOptions;

// PyTorch pickles and TorchScript archives (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`, `*.pkl`):
// unpickling them can execute arbitrary code, so the default pick leaves them out.
bool loading_runs_code(const std::string& path);

// Which files of a repository a model needs: everything except the weight formats embedflow does
// not read (ONNX, TF/Keras, Flax, Rust, OpenVINO, Core ML, GGUF) and the files whose loading can
// run code (loading_runs_code), which only `include` or `all_files` fetch. `include` globs
// (fnmatch, `*` crosses '/', a trailing '/' means the whole folder) replace this pick; `all_files`
// keeps everything. Returns the kept paths in repository order; the others go to `skipped` when
// given.
std::vector<std::string> select_files(const std::vector<std::string>& repo_files,
                                      const FetchOptions& options,
                                      std::vector<std::string>* skipped = nullptr);

}  // namespace embedflow::hub
