// The `test:` section (declared to the loader, validated like stage params), taps (writers added
// for `tap: true` stages), and the run identity the golden manifest records.
#include <catch2/catch.hpp>

#include <filesystem>

#include "embedflow/regression/goldens.h"
#include "embedflow/regression/settings.h"
#include "embedflow/regression/taps.h"
#include "embedflow/run_identity.h"
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
  register_test_section(reg);
  StageSchema e;
  e.type = "fake.embed";
  e.summary = "test stage";
  e.inputs = {{"in", {Kind::Text}, "texts"}};
  e.output = Kind::Embedding;
  e.params = {ParamSpec::model_path("model").describe("weights")};
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
  TestSettings d = test_settings(none);
  CHECK(d.defaults.min_cosine == Approx(0.9999));
  CHECK(d.defaults.atol == Approx(1e-5));
  CHECK(d.defaults.rtol == 0.0);

  PipelineConfig cfg = load_pipeline_string(pipeline("out",
                                                     "test:\n  min_cosine: 0.99\n  atol: 0.001\n"
                                                     "  outputs:\n    save: { atol: 0.5 }\n"),
                                            "p.yaml", registry());
  TestSettings s = test_settings(cfg);
  CHECK(s.defaults.min_cosine == Approx(0.99));
  CHECK(s.defaults.atol == Approx(0.001));
  Tolerance save = s.for_output("save");
  CHECK(save.atol == Approx(0.5));
  CHECK(save.min_cosine == Approx(0.99));  // inherited
  CHECK(s.for_output("other").atol == Approx(0.001));

  // An entry without a value inherits everything.
  PipelineConfig bare = load_pipeline_string(
      pipeline("out", "test:\n  atol: 0.25\n  outputs:\n    save:\n"), "p.yaml", registry());
  CHECK(test_settings(bare).for_output("save").atol == Approx(0.25));
}

TEST_CASE("test section: environment variables and --set reach it like any stage parameter") {
  LoadOptions options;
  options.env["EF_TEST_ATOL"] = "0.125";
  options.overrides = {"test.min_cosine=0.5", "test.outputs.save.rtol=0.01"};
  PipelineConfig cfg = load_pipeline_string(
      pipeline("out", "test:\n  atol: ${EF_TEST_ATOL}\n  outputs:\n    save: { atol: 1 }\n"),
      "p.yaml", registry(), options);
  TestSettings s = test_settings(cfg);
  CHECK(s.defaults.atol == Approx(0.125));
  CHECK(s.defaults.min_cosine == Approx(0.5));
  CHECK(s.for_output("save").atol == Approx(1.0));  // the file's value stays beside --set's
  CHECK(s.for_output("save").rtol == Approx(0.01));

  // --set creates the section when the file has none, and is validated like the file.
  options.overrides = {"test.atol=-2"};
  try {
    load_pipeline_string(pipeline("out", ""), "p.yaml", registry(), options);
    FAIL("a negative atol from --set was accepted");
  } catch (const ConfigError& e) {
    CHECK_THAT(first_error(e), Catch::Contains("'test.atol' must be >= 0, got -2"));
  }
}

TEST_CASE("test section: mistakes are errors that name the key, the bound and where it is") {
  TempDir dir;
  auto load_error = [&](const std::string& section) {
    write_file(dir.file("p.yaml"), pipeline(dir.file("out"), section));
    try {
      load_pipeline_file(dir.file("p.yaml"), registry());
    } catch (const ConfigError& e) {
      return first_error(e);
    }
    return std::string("no error");
  };
  CHECK_THAT(load_error("test:\n  min_cosin: 0.9\n"),
             Catch::Contains("unknown key 'test.min_cosin'") && Catch::Contains("min_cosine"));
  // The pipeline above is 10 lines long: the bad key is on line 12.
  CHECK_THAT(load_error("test:\n  min_cosin: 0.9\n"), Catch::Contains("p.yaml:12:3:"));
  CHECK_THAT(
      load_error("test:\n  min_cosine: 1.5\n"),
      Catch::Contains("p.yaml:12:15: key 'test.min_cosine' must be between -1 and 1, got 1.5"));
  CHECK_THAT(load_error("test:\n  atol: -1\n"), Catch::Contains("'test.atol' must be >= 0"));
  CHECK_THAT(load_error("test:\n  atol: small\n"),
             Catch::Contains("'test.atol' expects a number, got \"small\""));
  CHECK_THAT(load_error("test: 3\n"), Catch::Contains("'test' must be a mapping"));
  CHECK_THAT(load_error("test:\n  outputs: 3\n"),
             Catch::Contains("'test.outputs' expects a mapping"));
  CHECK_THAT(load_error("test:\n  outputs:\n    save: 0.5\n"),
             Catch::Contains("'test.outputs.save' expects a mapping of min_cosine, atol, rtol"));
  CHECK_THAT(
      load_error("test:\n  outputs:\n    sav: { atol: 1 }\n"),
      Catch::Contains("p.yaml:13:10: test.outputs.sav: no writer or tapped stage has id 'sav'") &&
          Catch::Contains("did you mean 'save'"));
  CHECK_THAT(load_error("test:\n  outputs:\n    stats: { atol: 1 }\n"),
             Catch::Contains("'stats'") && Catch::Contains("writers and taps: save"));
  CHECK_THAT(load_error("test:\n  outputs:\n    save: { atol: 1, cosine: 0.5 }\n"),
             Catch::Contains("unknown key 'test.outputs.save.cosine'"));
  CHECK_THAT(load_error("tests:\n  atol: 1\n"),
             Catch::Contains("unknown top-level key 'tests' (did you mean 'test'?)"));
}

TEST_CASE("test section: without the declaration, `test:` is an unknown top-level key") {
  Registry bare;
  register_builtin_stages(bare);
  try {
    load_pipeline_string(pipeline("out", "test:\n  atol: 1\n"), "p.yaml", bare);
    FAIL("an undeclared section was accepted");
  } catch (const ConfigError& e) {
    CHECK_THAT(first_error(e), Catch::Contains("unknown top-level key 'test'"));
  }
  // Without the section, the settings are the defaults.
  PipelineConfig cfg = load_pipeline_string(pipeline("out", ""), "p.yaml", bare);
  CHECK(test_settings(cfg).defaults.atol == Approx(Tolerance{}.atol));
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
  TestSettings s = test_settings(cfg);
  CHECK(s.for_output(tap_writer_id("stats")).atol == Approx(0.25));
}

TEST_CASE("config hash: follows stages and params, not taps or run settings") {
  auto hash_of = [](const std::string& yaml) {
    PipelineConfig cfg = load_pipeline_string(yaml, "p.yaml", registry());
    return config_hash(cfg);
  };
  std::string base = hash_of(pipeline("out", ""));
  CHECK(base.size() == 64);
  CHECK(hash_of(pipeline("out", "")) == base);
  CHECK(hash_of("threads: 3\n" + pipeline("out", "test:\n  atol: 1\n")) == base);
  CHECK(hash_of(pipeline("out2", "")) != base);  // another path param

  PipelineConfig tapped =
      load_pipeline_string(pipeline("out", "", "    tap: true\n"), "p.yaml", registry());
  std::string with_tap = config_hash(tapped);
  CHECK(with_tap != base);  // `tap` is part of the config…
  for (const auto& id : add_tap_writers(tapped, registry())) CHECK(tapped.find(id)->generated);
  CHECK(config_hash(tapped) == with_tap);  // …the writers it adds are not
}

TEST_CASE("model hashes: a model file, or the files of a folder that define a model") {
  TempDir dir;
  fs::create_directories(dir.file("m/1_Pooling"));
  write_file(dir.file("m/model.safetensors"), "weights");
  write_file(dir.file("m/config.json"), "{\"hidden_size\": 8}");
  write_file(dir.file("m/1_Pooling/config.json"), "{}");
  write_file(dir.file("m/vocab.txt"), "[PAD]\n[UNK]\n");
  write_file(dir.file("m/README.md"), "not hashed");
  write_file(dir.file("single.safetensors"), "other weights");
  auto load = [&](const std::string& model) {
    return load_pipeline_string(
        "pipeline: p\nstages:\n  - id: texts\n    type: source.text\n"
        "    params: { items: [a] }\n  - id: emb\n    type: fake.embed\n    params: { model: " +
            model + " }\n  - id: save\n    type: write.npy\n    params: { path: " +
            dir.file("out/e.npy") + " }\n",
        "p.yaml", registry());
  };
  auto sha = [](const std::string& path) {  // coreutils, independent of the code under test
    auto r = run_command("sha256sum '" + path + "'");
    REQUIRE(r.exit_code == 0);
    return r.output.substr(0, 64);
  };

  Json folder = model_hashes(load(dir.file("m")));
  REQUIRE(folder.contains("emb.model"));
  CHECK(folder["emb.model"]["path"] == dir.file("m"));
  Json files = folder["emb.model"]["files"];
  CHECK(files.size() == 4);
  CHECK(files["model.safetensors"] == sha(dir.file("m/model.safetensors")));
  CHECK(files["config.json"] == sha(dir.file("m/config.json")));
  CHECK(files["1_Pooling/config.json"] == sha(dir.file("m/1_Pooling/config.json")));
  CHECK(files["vocab.txt"] == sha(dir.file("m/vocab.txt")));  // the tokenizer is the model's too

  Json file = model_hashes(load(dir.file("single.safetensors")));
  CHECK(file["emb.model"]["files"]["single.safetensors"] == sha(dir.file("single.safetensors")));

  // A hub id is hashed where the resolver finds it (`embedflow test` asks the hub cache).
  ModelResolver cache = [&](const std::string& spec) {
    return spec == "org/cached" ? dir.file("m") : std::string();
  };
  Json cached = model_hashes(load("org/cached"), cache);
  CHECK(cached["emb.model"]["path"] == "org/cached");
  CHECK(cached["emb.model"]["resolved"] == dir.file("m"));
  CHECK(cached["emb.model"]["files"] == files);

  Json missing = model_hashes(load("org/not-downloaded"), cache);
  CHECK(missing["emb.model"]["missing"] == true);
  CHECK(missing["emb.model"]["files"].empty());
}
