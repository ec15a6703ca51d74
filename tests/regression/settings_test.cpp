// The `test:` section, taps (writers added for `tap: true` stages), the config hash and the
// model hashes of the golden manifest.
#include <catch2/catch.hpp>

#include <filesystem>

#include "embedflow/regression.h"
#include "embedflow/schema.h"
#include "stages/builtin.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::regression;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

// A stand-in for an encoder: text → a 2-d embedding (length, vowels). Only its output kind
// matters here.
class FakeEmbed : public ItemStage {
 public:
  explicit FakeEmbed(const Params&) {}
  void process(const Item& in, Item& out) override {
    out.kind = Kind::Embedding;
    out.tensor = Tensor::from_vector(std::vector<float>{float(in.text.size()), 1.0f}, {2});
  }
};

class FakeSpectrogram : public ItemStage {
 public:
  explicit FakeSpectrogram(const Params&) {}
  void process(const Item& in, Item& out) override {
    out.kind = Kind::Spectrogram;
    out.tensor = Tensor(DType::F32, {2, static_cast<int64_t>(in.text.size())});
  }
};

Registry make_registry() {
  Registry reg;
  register_builtin_stages(reg);
  StageSchema e;
  e.type = "fake.embed";
  e.summary = "test stage";
  e.inputs = {{"in", {Kind::Text}, "texts"}};
  e.output = Kind::Embedding;
  e.params = {ParamSpec::path("model").describe("weights")};
  add_stage<FakeEmbed>(reg, e);
  StageSchema s = e;
  s.type = "fake.spectrogram";
  s.output = Kind::Spectrogram;
  s.params = {};
  add_stage<FakeSpectrogram>(reg, s);
  return reg;
}

const Registry& registry() {
  static Registry reg = make_registry();
  return reg;
}

// texts → stats → save, then `more_stages` (which name their input), then `test_section`.
std::string pipeline(const std::string& out, const std::string& test_section,
                     const std::string& stats_extra = "", const std::string& more_stages = "") {
  return "pipeline: p\nstages:\n"
         "  - id: texts\n    type: source.text\n    params: { items: [\"a b\", \"c\"] }\n"
         "  - id: stats\n    type: text.stats\n" +
         stats_extra + "  - id: save\n    type: write.jsonl\n    params: { path: " + out +
         "/stats.jsonl }\n" + more_stages + test_section;
}

std::string first_error(const ConfigError& e) {
  return e.diagnostics().empty() ? "" : e.diagnostics()[0].str();
}

}  // namespace

TEST_CASE("test section: defaults, and per-output values that inherit the section's") {
  PipelineConfig none = load_pipeline_string(pipeline("out", ""), "p.yaml", registry());
  TestSettings d = parse_test_settings(none);
  CHECK(d.defaults.min_cosine == Approx(0.9999));
  CHECK(d.defaults.atol == Approx(1e-5));
  CHECK(d.defaults.rtol == 0.0);

  PipelineConfig cfg = load_pipeline_string(pipeline("out",
                                                     "test:\n  min_cosine: 0.99\n  atol: 0.001\n"
                                                     "  outputs:\n    save: { atol: 0.5 }\n"),
                                            "p.yaml", registry());
  TestSettings s = parse_test_settings(cfg);
  CHECK(s.defaults.min_cosine == Approx(0.99));
  CHECK(s.defaults.atol == Approx(0.001));
  Tolerance save = s.for_output("save");
  CHECK(save.atol == Approx(0.5));
  CHECK(save.min_cosine == Approx(0.99));  // inherited
  CHECK(s.for_output("other").atol == Approx(0.001));
}

TEST_CASE("test section: mistakes are errors that name the key, the bound and where it is") {
  TempDir dir;
  auto load_error = [&](const std::string& section) {
    write_file(dir.file("p.yaml"), pipeline(dir.file("out"), section));
    PipelineConfig cfg = load_pipeline_file(dir.file("p.yaml"), registry());
    try {
      parse_test_settings(cfg);
    } catch (const ConfigError& e) {
      return first_error(e);
    }
    return std::string("no error");
  };
  CHECK_THAT(load_error("test:\n  min_cosin: 0.9\n"),
             Catch::Contains("unknown key 'test.min_cosin'") && Catch::Contains("min_cosine"));
  // The pipeline above is 10 lines long: the bad key's value is on line 12.
  CHECK_THAT(load_error("test:\n  min_cosin: 0.9\n"), Catch::Contains("p.yaml:12:"));
  CHECK_THAT(load_error("test:\n  min_cosine: 1.5\n"),
             Catch::Contains("test.min_cosine must be between -1 and 1, got 1.5"));
  CHECK_THAT(load_error("test:\n  atol: -1\n"),
             Catch::Contains("test.atol must be a finite number >= 0"));
  CHECK_THAT(load_error("test:\n  atol: small\n"),
             Catch::Contains("test.atol must be a number, got \"small\""));
  CHECK_THAT(load_error("test: 3\n"), Catch::Contains("'test' must be a mapping"));
  CHECK_THAT(load_error("test:\n  outputs:\n    sav: { atol: 1 }\n"),
             Catch::Contains("no writer or tapped stage has id 'sav'") &&
                 Catch::Contains("did you mean 'save'"));
  CHECK_THAT(load_error("test:\n  outputs:\n    stats: { atol: 1 }\n"),
             Catch::Contains("'stats'") && Catch::Contains("writers and taps: save"));
  CHECK_THAT(load_error("test:\n  outputs:\n    save: { atol: 1, cosine: 0.5 }\n"),
             Catch::Contains("unknown key 'test.outputs.save.cosine'"));
}

TEST_CASE("taps: a writer per tapped stage, chosen by what the stage produces") {
  TempDir dir;
  std::string out = dir.file("out");
  PipelineConfig cfg = load_pipeline_string(
      pipeline(out, "", "    tap: true\n",
               "  - id: emb\n    type: fake.embed\n    input: texts\n    tap: true\n"
               "  - id: spec\n    type: fake.spectrogram\n    input: texts\n    tap: true\n"),
      "p.yaml", registry());
  size_t before = cfg.stages.size();
  std::vector<std::string> added = add_tap_writers(cfg, registry());
  REQUIRE(added == std::vector<std::string>{"tap:stats", "tap:emb", "tap:spec"});  // file order
  REQUIRE(cfg.stages.size() == before + 3);

  const StageConfig* emb = cfg.find("tap:emb");
  REQUIRE(emb);
  CHECK(emb->type == "write.npy");
  CHECK(emb->inputs == std::vector<std::string>{"emb"});
  CHECK(emb->params.get_string("path") == out + "/taps/emb.npy");
  CHECK_FALSE(emb->params.get_bool("per_item"));
  CHECK(emb->params.get_string("dtype") == "keep");

  const StageConfig* spec = cfg.find("tap:spec");
  REQUIRE(spec);
  CHECK(spec->type == "write.npy");
  CHECK(spec->params.get_bool("per_item"));  // spectrogram lengths differ between items
  CHECK(spec->params.get_string("dir") == out + "/taps/spec");

  const StageConfig* stats = cfg.find("tap:stats");
  REQUIRE(stats);
  CHECK(stats->type == "write.jsonl");
  CHECK(stats->params.get_string("path") == out + "/taps/stats.jsonl");

  // The taps run like any writer: the outputs include them, attributed to the tap writer.
  RunResult r = run_pipeline(cfg);
  REQUIRE(r.status == RunResult::Status::Ok);
  std::vector<RunOutput> outs = collect_outputs(cfg, r);
  std::vector<std::string> paths;
  for (const auto& o : outs) paths.push_back(o.stage + " " + o.path);
  std::sort(paths.begin(), paths.end());
  CHECK(paths == std::vector<std::string>{
                     "save stats.jsonl", "tap:emb taps/emb.jsonl", "tap:emb taps/emb.npy",
                     "tap:spec taps/spec/0_0.npy", "tap:spec taps/spec/1_1.npy",
                     "tap:spec taps/spec/index.jsonl", "tap:stats taps/stats.jsonl"});
  Tensor e = load_npy(out + "/taps/emb.npy");
  CHECK(e.shape() == std::vector<int64_t>{2, 2});
  CHECK(e.data<float>()[2] == 1.0f);  // "c" has length 1
}

TEST_CASE("taps: tapping a writer is an error, and a tapped stage's tolerance reaches its tap") {
  PipelineConfig bad =
      load_pipeline_string(pipeline("out", "").append("    tap: true\n"), "p.yaml", registry());
  try {
    add_tap_writers(bad, registry());
    FAIL("tap on a writer was accepted");
  } catch (const ConfigError& e) {
    CHECK_THAT(first_error(e),
               Catch::Contains("stage 'save'") && Catch::Contains("tap: true on a writer"));
  }
  PipelineConfig cfg = load_pipeline_string(
      pipeline("out", "test:\n  outputs:\n    stats: { atol: 0.25 }\n", "    tap: true\n"),
      "p.yaml", registry());
  TestSettings s = parse_test_settings(cfg);
  CHECK(s.for_output(tap_writer_id("stats")).atol == Approx(0.25));
}

TEST_CASE("config hash: follows stages and params, not taps or run settings") {
  auto hash_of = [](const std::string& yaml) {
    PipelineConfig cfg = load_pipeline_string(yaml, "p.yaml", registry());
    return stage_config_hash(cfg);
  };
  std::string base = hash_of(pipeline("out", ""));
  CHECK(base.size() == 64);
  CHECK(hash_of(pipeline("out", "")) == base);
  CHECK(hash_of("threads: 3\n" + pipeline("out", "test:\n  atol: 1\n")) == base);
  CHECK(hash_of(pipeline("out2", "")) != base);  // another path param

  PipelineConfig tapped =
      load_pipeline_string(pipeline("out", "", "    tap: true\n"), "p.yaml", registry());
  std::string with_tap = stage_config_hash(tapped);
  CHECK(with_tap != base);  // `tap` is part of the config…
  add_tap_writers(tapped, registry());
  CHECK(stage_config_hash(tapped) == with_tap);  // …the writers it adds are not
}

TEST_CASE("model hashes: a model file, or a folder's safetensors and config.json") {
  TempDir dir;
  fs::create_directories(dir.file("m/1_Pooling"));
  write_file(dir.file("m/model.safetensors"), "weights");
  write_file(dir.file("m/config.json"), "{\"hidden_size\": 8}");
  write_file(dir.file("m/1_Pooling/config.json"), "{}");
  write_file(dir.file("m/README.md"), "not hashed");
  write_file(dir.file("single.safetensors"), "other weights");
  auto yaml = [&](const std::string& model) {
    return "pipeline: p\nstages:\n  - id: texts\n    type: source.text\n"
           "    params: { items: [a] }\n  - id: emb\n    type: fake.embed\n    params: { model: " +
           model +
           " }\n  - id: save\n    type: write.npy\n    params: { path: " + dir.file("out/e.npy") +
           " }\n";
  };
  auto sha = [](const std::string& path) {  // coreutils, independent of the code under test
    auto r = run_command("sha256sum '" + path + "'");
    REQUIRE(r.exit_code == 0);
    return r.output.substr(0, 64);
  };

  Json folder = model_file_hashes(load_pipeline_string(yaml(dir.file("m")), "p.yaml", registry()));
  REQUIRE(folder.contains("emb.model"));
  CHECK(folder["emb.model"]["path"] == dir.file("m"));
  Json files = folder["emb.model"]["files"];
  CHECK(files.size() == 3);
  CHECK(files["model.safetensors"] == sha(dir.file("m/model.safetensors")));
  CHECK(files["config.json"] == sha(dir.file("m/config.json")));
  CHECK(files["1_Pooling/config.json"] == sha(dir.file("m/1_Pooling/config.json")));

  Json file = model_file_hashes(
      load_pipeline_string(yaml(dir.file("single.safetensors")), "p.yaml", registry()));
  CHECK(file["emb.model"]["files"]["single.safetensors"] == sha(dir.file("single.safetensors")));

  Json missing =
      model_file_hashes(load_pipeline_string(yaml("org/not-downloaded"), "p.yaml", registry()));
  CHECK(missing["emb.model"]["missing"] == true);
  CHECK(missing["emb.model"]["files"].empty());
}
