#include "models/inspect.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "models/model_path.h"
#include "models/resnet.h"
#include "models/safetensors.h"
#include "models/torchscript_model.h"

namespace embedflow::models {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// 25557032 → "25.56M"
std::string human_count(int64_t n) {
  char buf[32];
  if (n >= 1000000)
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else if (n >= 1000)
    std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

// What the file is, from config.json first, then from the keys.
std::string architecture_of(const ModelPath& where, const SafeTensorsFile& file) {
  if (!where.config.empty()) {
    const nlohmann::json config = read_json_file(where.config);
    if (const std::string arch = resnet_arch_from_config(config); !arch.empty())
      return arch + " (config.json)";
    if (config.is_object()) {
      if (config.contains("architectures") && config["architectures"].is_array() &&
          !config["architectures"].empty())
        return config["architectures"][0].dump() + " (config.json)";
      if (config.contains("model_type")) return config["model_type"].dump() + " (config.json)";
      if (config.contains("architecture")) return config["architecture"].dump() + " (config.json)";
    }
  }
  try {
    return detect_resnet_arch(file) + " (torchvision/timm layout, from the keys)";
  } catch (const ModelError&) {
    return "unknown (no config.json naming it; not a ResNet layout)";
  }
}

}  // namespace

std::string inspect_model(const std::string& path) {
  const ModelPath where = resolve_model_path(path);
  std::ostringstream os;
  os << "path:          " << where.input << "\n";
  os << "weights:       " << where.weights << " (" << model_format_name(where.format) << ")\n";
  if (!where.config.empty()) os << "config:        " << where.config << "\n";
  for (const auto& m : where.modules) os << "module:        " << m.type << " at " << m.path << "\n";

  if (where.format == ModelFormat::TorchScript) {
    auto module = TorchScriptModule::load(where.weights);
    os << "architecture:  TorchScript module\n";
    os << "parameters:    " << module->parameter_count() << " ("
       << human_count(module->parameter_count()) << ")\n";
    os << "tensors:\n" << module->tensor_table();
    return os.str();
  }

  auto file = SafeTensorsFile::open(where.weights);
  int64_t params = 0;
  size_t name_width = 4;
  std::map<std::string, int64_t> by_dtype;
  for (const auto& t : file->tensors()) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    params += n;
    by_dtype[t.dtype] += n;
    name_width = std::max(name_width, t.name.size());
  }
  os << "architecture:  " << architecture_of(where, *file) << "\n";
  os << "parameters:    " << params << " (" << human_count(params)
     << ", all tensors incl. buffers;";
  for (const auto& [dtype, n] : by_dtype) os << " " << dtype << " " << human_count(n);
  os << ")\n";
  os << "file size:     " << file->file_size() << " bytes, " << file->tensors().size()
     << " tensors\n";
  for (const auto& [k, v] : file->metadata()) os << "metadata:      " << k << " = " << v << "\n";
  os << "tensors:\n";
  for (const auto& t : file->tensors()) {
    os << "  " << t.name << std::string(name_width - t.name.size() + 2, ' ') << t.dtype
       << std::string(t.dtype.size() < 5 ? 5 - t.dtype.size() : 1, ' ') << shape_str(t.shape)
       << "\n";
  }
  return os.str();
}

}  // namespace embedflow::models
