#include "stages/common/stage_library.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace embedflow {

namespace {

std::mutex mutex;
std::map<std::string, const StageLibrary*> libraries;  // guarded by mutex

std::string env_name(const std::string& name) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return "EMBEDFLOW_" + upper;
}

const StageLibrary* load(const std::string& name) {
  const std::string path = stage_library_path(name);
  // RTLD_LAZY, as the loader binds linked libraries: RTLD_NOW would bind every call site of
  // libtorch's libraries up front (measured: +70 ms on a model pipeline's run); both sides come
  // from one build, so no symbol is missing. RTLD_GLOBAL: the dependencies behave as when linked
  // (TorchScript resolves operators registered by libraries loaded after libtorch). Never
  // closed: libtorch does not support unloading.
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_GLOBAL);
  if (!handle) {
    const char* why = dlerror();
    throw std::runtime_error("cannot load " + path + ": " + (why ? why : "unknown reason") +
                             ". In a build tree, build the target embedflow_" + name +
                             " (every build of the embedflow target does); " + env_name(name) +
                             " names another copy of the file");
  }
  using Entry = const StageLibrary* (*)();
  const std::string symbol = "embedflow_" + name;
  auto entry = reinterpret_cast<Entry>(dlsym(handle, symbol.c_str()));
  if (!entry) throw std::runtime_error(path + " has no entry point " + symbol);
  const StageLibrary* library = entry();
  if (!library || library->abi != kStageLibraryAbi)
    throw std::runtime_error(path + " was built from another embedflow version (interface " +
                             std::to_string(library ? library->abi : 0) + ", expected " +
                             std::to_string(kStageLibraryAbi) + "): rebuild or reinstall both");
  return library;
}

}  // namespace

std::string stage_library_path(const std::string& name) {
  if (const char* env = std::getenv(env_name(name).c_str()); env && *env) return env;
  const std::string file = "libembedflow_" + name + ".so";
  // Beside the library (or executable) holding this function.
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&stage_library_path), &info) && info.dli_fname) {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::canonical(info.dli_fname, ec);
    if (!ec) return (self.parent_path() / file).string();
  }
  return file;  // the dynamic loader's search path
}

const StageLibrary& stage_library(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = libraries.find(name);
  if (it == libraries.end()) it = libraries.emplace(name, load(name)).first;
  return *it->second;
}

bool stage_library_loaded(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex);
  return libraries.count(name) != 0;
}

void add_stage_from_library(Registry& registry, StageSchema schema, const std::string& library) {
  const std::string type = schema.type;
  registry.add(
      std::move(schema),
      [type, library](const Params& params) -> std::unique_ptr<Stage> {
        const auto& factories = stage_library(library).factories;
        auto it = factories.find(type);
        if (it == factories.end())
          throw std::runtime_error(stage_library_path(library) + " has no stage '" + type +
                                   "': it was built from another embedflow version");
        return it->second(params);
      },
      /*on_demand=*/true);
}

}  // namespace embedflow
