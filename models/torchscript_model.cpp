#include "models/torchscript_model.h"

#include <sstream>

#include <torch/script.h>

#include "models/safetensors.h"
#include "models/torch_bridge.h"
#include "models/torch_runtime.h"

namespace embedflow::models {

struct TorchScriptModule::Impl {
  std::string path;
  // jit::Module::forward is not const, but running it does not mutate the module.
  mutable torch::jit::Module module;
};

TorchScriptModule::TorchScriptModule(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchScriptModule::~TorchScriptModule() = default;

std::unique_ptr<TorchScriptModule> TorchScriptModule::load(const std::string& path) {
  use_caching_tensor_allocator();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  try {
    impl->module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    std::string what = e.what();
    // torch's messages carry a C++ stack trace after the first line.
    what = what.substr(0, what.find('\n'));
    throw ModelError(path + ": not a loadable TorchScript module: " + what);
  }
  impl->module.eval();
  return std::unique_ptr<TorchScriptModule>(new TorchScriptModule(std::move(impl)));
}

const std::string& TorchScriptModule::path() const {
  return impl_->path;
}

Tensor TorchScriptModule::forward(const Tensor& input, int threads) const {
  set_intra_op_threads(threads);
  c10::InferenceMode guard;
  const torch::Tensor x = to_torch(input);
  c10::IValue out;
  try {
    out = impl_->module.forward({x});
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw ModelError(impl_->path + ": forward failed on input " + input.shape_str() + ": " +
                     what.substr(0, what.find('\n')));
  }
  if (out.isTuple()) out = out.toTupleRef().elements().at(0);
  if (out.isList()) out = out.toListRef().at(0);
  if (!out.isTensor())
    throw ModelError(impl_->path + ": forward returned " + out.tagKind() + ", expected a tensor");
  return from_torch(out.toTensor());
}

int64_t TorchScriptModule::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : impl_->module.parameters()) n += p.numel();
  return n;
}

std::string TorchScriptModule::tensor_table() const {
  std::ostringstream os;
  auto row = [&](const std::string& name, const torch::Tensor& t) {
    os << "  " << name << "  " << t.scalar_type() << "  " << t.sizes() << "\n";
  };
  for (const auto& p : impl_->module.named_parameters()) row(p.name, p.value);
  for (const auto& b : impl_->module.named_buffers()) row(b.name, b.value);
  return os.str();
}

}  // namespace embedflow::models
