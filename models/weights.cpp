#include "models/weights.h"

#include <cstring>
#include <sstream>

namespace embedflow::models {

namespace {

bool torch_dtype(const std::string& dtype, c10::ScalarType& out) {
  static const std::map<std::string, c10::ScalarType> types = {
      {"F64", torch::kFloat64},   {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
      {"I16", torch::kInt16},     {"I8", torch::kInt8},     {"U8", torch::kUInt8},
      {"BOOL", torch::kBool}};
  auto it = types.find(dtype);
  if (it == types.end()) return false;
  out = it->second;
  return true;
}

bool is_float_dtype(const std::string& dtype) {
  return dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64";
}

std::string shape_str(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// "a, b, c … and 12 more": a wrong file can produce hundreds of names.
std::string name_list(const std::vector<std::string>& names, size_t limit = 12) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < limit; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > limit) s += " … and " + std::to_string(names.size() - limit) + " more";
  return s;
}

}  // namespace

torch::Tensor to_torch(const std::shared_ptr<SafeTensorsFile>& file, const SafeTensorInfo& info) {
  c10::ScalarType type;
  if (!torch_dtype(info.dtype, type))
    throw ModelError(file->path() + ": tensor '" + info.name + "': dtype " + info.dtype +
                     " is not supported");
  const auto options = torch::TensorOptions().dtype(type);
  if (info.nbytes == 0) return torch::empty(info.shape, options);
  const uint8_t* ptr = file->data(info);
  const size_t elem = safetensors_dtype_size(info.dtype);
  if (file->writable() && reinterpret_cast<uintptr_t>(ptr) % elem == 0) {
    // Alias the copy-on-write mapping; the deleter keeps the file mapped while the tensor lives.
    auto keep = file;
    return torch::from_blob(
        const_cast<uint8_t*>(ptr), info.shape, [keep](void*) {}, options);
  }
  torch::Tensor t = torch::empty(info.shape, options);
  std::memcpy(t.data_ptr(), ptr, info.nbytes);
  return t;
}

WeightLoader::WeightLoader(std::shared_ptr<SafeTensorsFile> file, std::vector<std::string> prefixes)
    : file_(std::move(file)), prefixes_(std::move(prefixes)) {
  if (prefixes_.empty()) prefixes_.push_back("");
}

const SafeTensorInfo* WeightLoader::lookup(const std::string& name) const {
  for (const auto& prefix : prefixes_)
    if (const SafeTensorInfo* t = file_->find(prefix + name)) return t;
  return nullptr;
}

bool WeightLoader::has(const std::string& name) const {
  return lookup(name) != nullptr;
}

torch::Tensor WeightLoader::placeholder(c10::IntArrayRef expected_shape) {
  // A stand-in lets the model be built to the end, so that every missing or mis-shaped tensor is
  // reported at once. Its shape comes from config.json, which may be absurd
  // (num_hidden_layers: 1000000, hidden_size: 1e9): past a budget, report what is known now
  // instead of allocating until memory runs out.
  int64_t numel = 1;
  for (int64_t d : expected_shape) {
    if (d <= 0) {
      numel = 0;
      break;
    }
    numel = numel > kPlaceholderBudget / d ? kPlaceholderBudget : numel * d;
  }
  placeholder_elements_ += numel;
  if (placeholder_elements_ >= kPlaceholderBudget) {
    std::string msg = file_->path() + ": the weights do not match the sizes config.json gives (";
    if (!missing_.empty()) msg += "missing: " + name_list(missing_);
    if (!wrong_shape_.empty())
      msg += std::string(missing_.empty() ? "" : "; ") + "wrong shape: " + name_list(wrong_shape_);
    if (!wrong_dtype_.empty()) msg += "; wrong dtype: " + name_list(wrong_dtype_);
    throw ModelError(msg + "); check hidden_size, num_hidden_layers and the other sizes there");
  }
  return torch::zeros(expected_shape);
}

torch::Tensor WeightLoader::take(const std::string& name, c10::IntArrayRef expected_shape) {
  const SafeTensorInfo* info = lookup(name);
  if (!info) {
    missing_.push_back(name);
    return placeholder(expected_shape);
  }
  taken_.insert(info->name);
  if (!is_float_dtype(info->dtype)) {
    wrong_dtype_.push_back(info->name + " expected a float type found " + info->dtype);
    return placeholder(expected_shape);
  }
  if (c10::IntArrayRef(info->shape) != expected_shape) {
    wrong_shape_.push_back(info->name + " expected " + shape_str(expected_shape) + " found " +
                           shape_str(info->shape));
    return placeholder(expected_shape);
  }
  torch::Tensor t = to_torch(file_, *info);
  return info->dtype == "F32" ? t : t.to(torch::kFloat32);
}

torch::Tensor WeightLoader::take_any(const std::string& name) {
  const SafeTensorInfo* info = lookup(name);
  if (!info) {
    missing_.push_back(name);
    return {};
  }
  taken_.insert(info->name);
  torch::Tensor t;
  try {
    t = to_torch(file_, *info);
  } catch (const ModelError&) {
    wrong_dtype_.push_back(info->name + " has unsupported dtype " + info->dtype);
    return {};
  }
  if (is_float_dtype(info->dtype) && info->dtype != "F32") t = t.to(torch::kFloat32);
  return t;
}

void WeightLoader::ignore(const std::string& regex) {
  try {
    ignored_.emplace_back(regex);
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("WeightLoader::ignore: bad regex '" + regex + "': " + e.what());
  }
}

void WeightLoader::finish() {
  std::vector<std::string> unexpected;
  for (const auto& t : file_->tensors()) {
    if (taken_.count(t.name)) continue;
    bool ok = false;
    for (const auto& re : ignored_) {
      if (std::regex_match(t.name, re)) ok = true;
      for (const auto& prefix : prefixes_)
        if (!ok && !prefix.empty() && t.name.compare(0, prefix.size(), prefix) == 0 &&
            std::regex_match(t.name.substr(prefix.size()), re))
          ok = true;
      if (ok) break;
    }
    if (!ok) unexpected.push_back(t.name);
  }
  if (missing_.empty() && unexpected.empty() && wrong_shape_.empty() && wrong_dtype_.empty())
    return;

  std::vector<std::string> parts;
  if (!missing_.empty()) parts.push_back("missing: " + name_list(missing_));
  if (!unexpected.empty()) parts.push_back("unexpected: " + name_list(unexpected));
  if (!wrong_shape_.empty()) parts.push_back("wrong shape: " + name_list(wrong_shape_));
  if (!wrong_dtype_.empty()) parts.push_back("wrong dtype: " + name_list(wrong_dtype_));
  std::string msg = file_->path() + ": ";
  for (size_t i = 0; i < parts.size(); ++i) msg += (i ? "; " : "") + parts[i];
  if (taken_.empty())
    msg +=
        " (no expected tensor was found: is this the right architecture, or do the keys carry "
        "a prefix?)";
  throw ModelError(msg);
}

}  // namespace embedflow::models
