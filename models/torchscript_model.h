// The TorchScript escape hatch (`format: torchscript`): a module a user exported themselves with
// torch.jit.trace / torch.jit.script, run as-is. Torch-free header (pimpl).
#pragma once

#include <memory>
#include <string>

#include "embedflow/tensor.h"

namespace embedflow::models {

class TorchScriptModule {
 public:
  // torch::jit::load on CPU, in eval mode. Throws ModelError naming the file.
  static std::unique_ptr<TorchScriptModule> load(const std::string& path);
  ~TorchScriptModule();

  // One f32 tensor in; the output tensor (or the first tensor of a returned tuple/list) out as
  // f32. Runs under InferenceMode with `threads` intra-op threads. Thread-safe.
  Tensor forward(const Tensor& input, int threads) const;
  const std::string& path() const;
  // Parameter count and a "name dtype shape" table of parameters and buffers (for inspect).
  int64_t parameter_count() const;
  std::string tensor_table() const;

 private:
  struct Impl;
  explicit TorchScriptModule(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace embedflow::models
