// Stages whose implementation lives in a shared library loaded the first time a pipeline
// constructs one of them. Their schemas are registered without it, so `embedflow --version`,
// `stages`, `validate`, `graph` and pipelines that do not use them never pay for loading what
// they link. Two such libraries:
// - "model_stages" (libembedflow_model_stages.so): the encode.* stages and libtorch, whose
//   static initialisation costs about 0.3 s on every process that maps it;
// - "image_decoding" (libembedflow_image_decoding.so): image.load and OpenCV's imgcodecs,
//   which maps GDAL, GDCM, OpenEXR and ~120 more libraries (about 70 ms of dynamic linking).
//
// A library is found beside the one holding this loader (build/lib in a build tree, the
// install's lib folder), or where $EMBEDFLOW_<NAME> says (EMBEDFLOW_MODEL_STAGES,
// EMBEDFLOW_IMAGE_DECODING). Both sides are built from one tree by one compiler, so the
// interface is plain C++ (StageLibrary), versioned by kStageLibraryAbi.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "embedflow/registry.h"

namespace embedflow {

inline constexpr int kStageLibraryAbi = 1;

// What a library hands over: its stages' factories by type, and functions that commands call
// outside a pipeline (the model stages': "inspect" for `embedflow inspect`, "runtime" for the
// libtorch and BLAS in use), each taking and returning a string.
struct StageLibrary {
  int abi = kStageLibraryAbi;
  std::map<std::string, StageFactory> factories;
  std::map<std::string, std::function<std::string(const std::string&)>> functions;
};

// For a library's entry point: `add_factory<MyStage>(library, my_schema())`.
template <class S>
void add_factory(StageLibrary& library, const StageSchema& schema) {
  library.factories[schema.type] = [](const Params& p) -> std::unique_ptr<Stage> {
    return std::make_unique<S>(p);
  };
}

// Loads lib<embedflow_`name`>.so once and calls its entry point `embedflow_<name>`; later calls
// return the same library. Throws std::runtime_error naming the file, the loader's reason and
// what to do.
const StageLibrary& stage_library(const std::string& name);
bool stage_library_loaded(const std::string& name);
// Where stage_library(name) loads from.
std::string stage_library_path(const std::string& name);

// Registers a stage by its schema; its factory loads library `library` on first use.
// Preflight (`validate`) checks such a stage against its schema without constructing it.
void add_stage_from_library(Registry& registry, StageSchema schema, const std::string& library);

}  // namespace embedflow
