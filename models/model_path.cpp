#include "models/model_path.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "embedflow/hub/cache.h"
#include "embedflow/strings.h"
#include "models/safetensors.h"

namespace embedflow::models {

namespace fs = std::filesystem;

namespace {

bool is_zip(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  char magic[4] = {};
  return f.read(magic, 4) && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

std::string ext_of(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

ModelFormat format_of_file(const fs::path& p, ModelFormat requested) {
  if (requested != ModelFormat::Auto) return requested;
  const std::string e = ext_of(p);
  if (e == ".safetensors") return ModelFormat::Safetensors;
  if ((e == ".pt" || e == ".ts" || e == ".torchscript" || e == ".jit") && is_zip(p))
    return ModelFormat::TorchScript;
  if (e == ".bin" || e == ".pth" || e == ".pt" || e == ".ckpt")
    throw ModelError(p.string() +
                     ": PyTorch pickle checkpoints are not read (they can run code when "
                     "loaded); convert it with safetensors.torch.save_file(state_dict, "
                     "'model.safetensors')");
  throw ModelError(p.string() + ": unknown model file type '" + e +
                   "' (expected .safetensors, or a TorchScript .pt/.ts with format: torchscript)");
}

// The weights file inside a folder.
fs::path weights_in_dir(const fs::path& dir, ModelFormat requested, ModelFormat& format) {
  std::vector<fs::path> safetensors, torchscript, pickles;
  bool sharded = false;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const fs::path& p = entry.path();
    const std::string name = p.filename().string();
    const std::string e = ext_of(p);
    if (e == ".safetensors") safetensors.push_back(p);
    if (name == "model.safetensors.index.json") sharded = true;
    if (e == ".pt" || e == ".ts" || e == ".torchscript" || e == ".jit") torchscript.push_back(p);
    if (e == ".bin" || e == ".pth") pickles.push_back(p);
  }
  std::sort(safetensors.begin(), safetensors.end());
  std::sort(torchscript.begin(), torchscript.end());

  if (requested != ModelFormat::TorchScript) {
    format = ModelFormat::Safetensors;
    if (fs::exists(dir / "model.safetensors")) return dir / "model.safetensors";
    if (sharded)
      throw ModelError(dir.string() +
                       ": sharded checkpoints (model.safetensors.index.json) are not supported; "
                       "merge the shards into one model.safetensors");
    if (safetensors.size() == 1) return safetensors[0];
    if (safetensors.size() > 1) {
      std::vector<std::string> names;
      for (const auto& p : safetensors) names.push_back(p.filename().string());
      throw ModelError(dir.string() + ": several .safetensors files (" + join(names, ", ") +
                       "); name the one to use");
    }
  }
  if (requested != ModelFormat::Safetensors && !torchscript.empty()) {
    format = ModelFormat::TorchScript;
    if (torchscript.size() > 1)
      throw ModelError(dir.string() + ": several TorchScript files; name the one to use");
    return torchscript[0];
  }
  std::string msg = dir.string() + ": no model weights found (looked for model.safetensors";
  if (requested != ModelFormat::Safetensors) msg += " and TorchScript *.pt / *.ts";
  msg += ")";
  if (!pickles.empty())
    msg += "; found " + pickles[0].filename().string() +
           ", a PyTorch pickle checkpoint, which is not read: convert it with "
           "safetensors.torch.save_file(state_dict, 'model.safetensors')";
  throw ModelError(msg);
}

}  // namespace

ModelFormat model_format_from_name(const std::string& name) {
  if (name == "auto") return ModelFormat::Auto;
  if (name == "safetensors") return ModelFormat::Safetensors;
  if (name == "torchscript") return ModelFormat::TorchScript;
  throw ModelError("unknown model format '" + name + "' (expected auto, safetensors, torchscript)");
}

const char* model_format_name(ModelFormat f) {
  switch (f) {
    case ModelFormat::Auto:
      return "auto";
    case ModelFormat::Safetensors:
      return "safetensors";
    case ModelFormat::TorchScript:
      return "torchscript";
  }
  return "?";
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ModelError(path + ": cannot read");
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(path + ": invalid JSON: " + e.what());
  }
}

ModelPath resolve_model_path(const std::string& path, ModelFormat format) {
  ModelPath out;
  out.input = path;
  std::error_code ec;
  const fs::path p(path);
  if (path.empty()) throw ModelError("model path is empty");
  if (!fs::exists(p, ec)) {
    // Not a file or folder: a Hugging Face hub id ("org/name[@rev]") found in the local cache,
    // so models a user already has from Python are reused. Never a download at run time.
    std::string snapshot;
    try {
      snapshot = hub::resolve_model_path(path);
    } catch (const std::exception& e) {
      throw ModelError(path + ": model path does not exist (" + e.what() + ")");
    }
    ModelPath resolved = resolve_model_path(snapshot, format);
    resolved.input = path;
    return resolved;
  }

  if (fs::is_regular_file(p, ec)) {
    out.weights = p.string();
    out.dir = p.has_parent_path() ? p.parent_path().string() : ".";
    out.format = format_of_file(p, format);
  } else if (fs::is_directory(p, ec)) {
    fs::path dir = p;
    if (fs::exists(p / "modules.json")) {
      const nlohmann::json modules = read_json_file((p / "modules.json").string());
      if (!modules.is_array() || modules.empty())
        throw ModelError((p / "modules.json").string() + ": expected a non-empty list of modules");
      for (const auto& m : modules) {
        if (!m.is_object() || !m.contains("path") || !m["path"].is_string())
          throw ModelError((p / "modules.json").string() +
                           ": module entry without a 'path': " + m.dump());
        out.modules.push_back({m.value("type", ""), (p / m["path"].get<std::string>()).string()});
      }
      dir = out.modules.front().path;
      if (!fs::is_directory(dir, ec))
        throw ModelError((p / "modules.json").string() + ": first module folder " + dir.string() +
                         " does not exist");
    }
    out.dir = dir.string();
    out.weights = weights_in_dir(dir, format, out.format).string();
  } else {
    throw ModelError(path + ": not a file or folder");
  }

  const fs::path config = fs::path(out.dir) / "config.json";
  if (fs::is_regular_file(config, ec)) out.config = config.string();
  return out;
}

std::string model_type_of(const std::string& model) {
  try {
    const ModelPath where = resolve_model_path(model);
    if (where.config.empty()) return "";
    return read_json_file(where.config).value("model_type", "");
  } catch (const std::exception&) {
    // The encoder stage reports a bad model path itself, located and with what to do.
    return "";
  }
}

std::string text_encoder_stage_for(const std::string& model) {
  return model_type_of(model) == "clip" ? "encode.clip_text" : "encode.text";
}

std::string image_encoder_stage_for(const std::string& model) {
  return model_type_of(model) == "clip" ? "encode.clip_image" : "encode.image";
}

}  // namespace embedflow::models
