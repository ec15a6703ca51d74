// Which commands load libtorch: only those that open a model stage (or `inspect` a model). The
// dynamic loader itself is the witness: LD_DEBUG=files makes ld.so print every object it maps,
// independently of what embedflow says about itself.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "embedflow/npy.h"
#include "embedflow/tensor.h"

#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;

namespace {

struct Loaded {
  int exit_code = -1;
  bool torch = false;         // libtorch_cpu.so was mapped
  bool model_stages = false;  // libembedflow_model_stages.so was mapped
  bool vector_index = false;  // libembedflow_vector_index.so (FAISS) was mapped
  std::string output;
};

// Runs the CLI from the source root with the loader's trace on.
Loaded run_traced(const std::string& args, const std::string& env = "") {
  TempDir tmp("startup");
  const std::string trace = tmp.file("ld.trace");
  const CommandResult r =
      run_command("cd '" + source_path("") + "' && env -u MODEL " + env + " LD_DEBUG=files " +
                  "LD_DEBUG_OUTPUT='" + trace + "' '" + EMBEDFLOW_CLI + "' " + args);
  Loaded l;
  l.exit_code = r.exit_code;
  l.output = r.output;
  // LD_DEBUG_OUTPUT appends the pid: read every file the process tree wrote.
  const CommandResult cat = run_command("cat '" + trace + "'.* 2>/dev/null");
  l.torch = cat.output.find("libtorch_cpu.so") != std::string::npos;
  l.model_stages = cat.output.find("libembedflow_model_stages.so") != std::string::npos;
  l.vector_index = cat.output.find("libembedflow_vector_index.so") != std::string::npos;
  INFO("loader trace: " << cat.output.size() << " bytes");
  REQUIRE(cat.output.find("file=") != std::string::npos);  // the trace itself was written
  return l;
}

}  // namespace

TEST_CASE("commands and pipelines without a model stage never load libtorch", "[startup]") {
  TempDir out("startup-out");
  const char* commands[] = {
      "--version",
      "stages",
      "stages encode.text",
      // A model pipeline: validation checks its stages by their schemas.
      "validate configs/text_similarity.yaml --set "
      "embed.model=tests/fixtures/text/tiny-bert-uncased",
      "graph configs/clip_image_text.yaml",
      "validate configs/clip_image_text.yaml",
  };
  for (const char* args : commands) {
    INFO("embedflow " << args);
    const Loaded l = run_traced(args, "CLIP_MODEL=tests/fixtures/clip/tiny");
    INFO(l.output);
    CHECK(l.exit_code == 0);
    CHECK_FALSE(l.torch);
    CHECK_FALSE(l.model_stages);
    CHECK_FALSE(l.vector_index);
  }
  SECTION("a spectrogram pipeline runs and writes its outputs") {
    const Loaded l = run_traced("run configs/audio_spectrograms.yaml --progress off",
                                "OUT='" + out.path() + "'");
    INFO(l.output);
    CHECK(l.exit_code == 0);
    CHECK(!read_lines(out.file("npy/index.jsonl")).empty());
    CHECK_FALSE(l.torch);
    CHECK_FALSE(l.model_stages);
  }
}

TEST_CASE("score.cosine over stored embeddings runs without libtorch", "[startup]") {
  // "Nearest other recording" over a merged job's vectors: no model stage, so no libtorch.
  TempDir dir("startup-cosine");
  Tensor vectors(DType::F32, {3, 4});
  const float values[] = {1, 0, 0, 0, 0.6f, 0.8f, 0, 0, 0, 0, 1, 0};
  std::copy(values, values + 12, vectors.data<float>());
  write_npy(dir.file("vectors.npy"), vectors);
  write_file(dir.file("nearest.yaml"),
             "pipeline: nearest\nstages:\n"
             "  - {id: vectors, type: source.npy, params: {path: '" +
                 dir.file("vectors.npy") +
                 "', sidecar: false}}\n"
                 "  - {id: near, type: score.cosine, input: vectors, params: {output: top_k, k: 1, "
                 "exclude_self: true}}\n"
                 "  - {id: out, type: write.jsonl, input: near, params: {path: '" +
                 dir.file("near.jsonl") + "'}}\n");
  const Loaded l = run_traced("run '" + dir.file("nearest.yaml") + "' --progress off");
  INFO(l.output);
  CHECK(l.exit_code == 0);
  CHECK_FALSE(l.torch);
  CHECK_FALSE(l.model_stages);
  // By hand: row 0's nearest other is row 1 (cos 0.6), row 1's is row 0 (0.6 again), row 2 is
  // orthogonal to both and the tie goes to the earlier row 0 (cos 0).
  const auto records = read_jsonl(dir.file("near.jsonl"));
  REQUIRE(records.size() == 3);
  CHECK(records[0]["record"]["corpus_id"] == "row-1");
  CHECK(records[0]["record"]["score"].get<double>() == Approx(0.6).margin(1e-6));
  CHECK(records[1]["record"]["corpus_id"] == "row-0");
  CHECK(records[1]["record"]["score"].get<double>() == Approx(0.6).margin(1e-6));
  CHECK(records[2]["record"]["corpus_id"] == "row-0");
  CHECK(records[2]["record"]["score"].get<double>() == Approx(0.0).margin(1e-6));
}

TEST_CASE("a pipeline with a model stage loads the model stages' library on demand", "[startup]") {
  TempDir out("startup-model");
  const Loaded l =
      run_traced("run configs/text_similarity.yaml --progress off",
                 "MODEL=tests/fixtures/text/tiny-bert-uncased OUT='" + out.path() + "'");
  INFO(l.output);
  CHECK(l.exit_code == 0);
  CHECK(l.torch);
  CHECK(l.model_stages);
  CHECK(read_file(out.file("similarity.npy")).size() > 128);
}

TEST_CASE("a missing model stages' library is an error that names it", "[startup]") {
  TempDir out("startup-missing");
  const Loaded l = run_traced("run configs/text_similarity.yaml --progress off",
                              "EMBEDFLOW_MODEL_STAGES=/nonexistent/libembedflow_model_stages.so "
                              "MODEL=tests/fixtures/text/tiny-bert-uncased OUT='" +
                                  out.path() + "'");
  INFO(l.output);
  CHECK(l.exit_code != 0);
  CHECK(l.output.find("/nonexistent/libembedflow_model_stages.so") != std::string::npos);
  CHECK(l.output.find("embedflow_model_stages") != std::string::npos);
}
