// Validation: every class of pipeline-file error is reported with file:line:column and the stage
// id, all at once, before any stage is constructed.
#include <catch2/catch.hpp>

#include "embedflow/config.h"
#include "embedflow/suggest.h"
#include "tests/core/test_stages.h"

using namespace embedflow;

namespace {

// A section `review:` as a layer above the engine would declare it: a number with a range, and a
// map of blocks whose keys must name stages.
SectionSpec review_section() {
  SectionSpec review;
  review.name = "review";
  review.fields = {ParamSpec::number("score", 0.5).range(0, 1),
                   ParamSpec::map("per_stage", {ParamSpec::integer("weight", 1).range(1, 9),
                                                ParamSpec::string("note", std::nullopt)})};
  review.check = [](const PipelineConfig& cfg, const Params& section) {
    std::vector<Diagnostic> out;
    if (section.has("per_stage"))
      for (const auto& entry : section.raw("per_stage").items())
        if (!cfg.find(entry.key()))
          out.push_back({Diagnostic::Severity::Error, section.where("per_stage." + entry.key()), "",
                         "review.per_stage." + entry.key() + ": no such stage"});
    return out;
  };
  return review;
}

Registry& registry() {
  static Registry reg = [] {
    Registry r;
    test::register_test_stages(r);
    r.add_section(review_section());
    return r;
  }();
  return reg;
}

// A source feeding a sink: the smallest valid pipeline.
const char* kSourceAndSink = R"(stages:
  - id: src
    type: test.source
    params: { count: 5 }
  - id: out
    type: test.collect
)";

// All diagnostics' texts, one per line.
std::string errors_of(const std::string& yaml, const LoadOptions& opts = {}) {
  try {
    load_pipeline_string(yaml, "p.yaml", registry(), opts);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE(
    "a valid pipeline loads with defaults filled and inputs defaulted to the previous stage") {
  auto cfg = load_pipeline_string(R"(
pipeline: demo
threads: 3
stages:
  - id: src
    type: test.source
    params: { count: 5 }
  - id: work
    type: test.work
  - id: out
    type: test.collect
)",
                                  "p.yaml", registry());
  REQUIRE(cfg.name == "demo");
  REQUIRE(cfg.threads == 3);
  REQUIRE(cfg.stages.size() == 3);
  CHECK(cfg.stages[1].inputs == std::vector<std::string>{"src"});
  CHECK(cfg.stages[2].inputs == std::vector<std::string>{"work"});
  CHECK(cfg.stages[0].params.get_int("count") == 5);
  CHECK(cfg.stages[1].params.get_int("fail_every") == 0);  // default
  CHECK(cfg.stages[1].concurrency == 0);                   // schema default: unlimited
  CHECK(cfg.warnings.empty());
}

TEST_CASE("unknown stage type suggests the closest name, with line and column") {
  std::string e = errors_of(R"(stages:
  - id: src
    type: test.sorce
)");
  CHECK_THAT(e, Catch::Contains("p.yaml:3:11: stage 'src': unknown stage type 'test.sorce'"));
  CHECK_THAT(e, Catch::Contains("did you mean 'test.source'"));
}

TEST_CASE("unknown parameter and unknown stage key suggest names") {
  std::string e = errors_of(R"(stages:
  - id: src
    type: test.source
    params:
      cuont: 3
  - id: w
    type: test.work
    concurency: 2
)");
  CHECK_THAT(e, Catch::Contains(
                    "p.yaml:5:7: stage 'src': unknown parameter 'cuont' (did you mean 'count'?)"));
  CHECK_THAT(
      e,
      Catch::Contains(
          "p.yaml:8:5: stage 'w': unknown stage key 'concurency' (did you mean 'concurrency'?)"));
}

TEST_CASE("a parameter written at stage level is pointed to params") {
  std::string e = errors_of(R"(stages:
  - id: src
    type: test.source
    count: 3
)");
  CHECK_THAT(e, Catch::Contains("p.yaml:4:5: stage 'src': unknown stage key 'count': 'count' is a "
                                "parameter of test.source, put it under 'params:'"));
}

TEST_CASE("wrong types, out-of-range values, bad enum values and missing required params") {
  std::string e = errors_of(R"(stages:
  - id: src
    type: test.source
  - id: p
    type: test.params
    input: src
    params:
      n_fft: eight
      power: 3.5
      center: maybe
      window: hanning
      mel: { n_mels: 0, scale: slany }
)");
  CHECK_THAT(e, Catch::Contains(
                    "p.yaml:8:14: stage 'p': parameter 'n_fft' expects an integer, got \"eight\""));
  CHECK_THAT(e,
             Catch::Contains(
                 "p.yaml:9:14: stage 'p': parameter 'power' must be between 0.5 and 2, got 3.5"));
  CHECK_THAT(e,
             Catch::Contains("p.yaml:10:15: stage 'p': parameter 'center' expects true or false"));
  CHECK_THAT(e, Catch::Contains("p.yaml:11:15: stage 'p': parameter 'window' must be one of hann, "
                                "hamming, blackman, got \"hanning\" (did you mean 'hamming'?)"));
  CHECK_THAT(
      e, Catch::Contains(
             "p.yaml:12:22: stage 'p': parameter 'mel.n_mels' must be between 1 and 1024, got 0"));
  CHECK_THAT(e, Catch::Contains("stage 'p': parameter 'mel.scale' must be one of htk, slaney"));
  CHECK_THAT(e, Catch::Contains("p.yaml:4:5: stage 'p': missing required parameter 'model'"));
  // And the port check: test.source produces text, test.params accepts audio.
  CHECK_THAT(e, Catch::Contains("p.yaml:6:12: stage 'p': input 'src' (test.source) produces text, "
                                "but port 'in' of test.params accepts audio"));
}

TEST_CASE("cycles, unknown inputs, missing inputs and bad arity") {
  SECTION("cycle") {
    std::string e = errors_of(R"(stages:
  - id: src
    type: test.source
  - id: a
    type: test.work
    input: b
  - id: b
    type: test.work
    input: a
  - id: out
    type: test.collect
    input: b
)");
    CHECK_THAT(e, Catch::Contains("cycle: "));
    CHECK_THAT(e, Catch::Contains("a -> b -> a") || Catch::Contains("b -> a -> b"));
  }
  SECTION("unknown input") {
    std::string e = errors_of(R"(stages:
  - id: source
    type: test.source
  - id: w
    type: test.work
    input: sorce
)");
    CHECK_THAT(
        e, Catch::Contains(
               "p.yaml:6:12: stage 'w': input 'sorce' is not a stage id (did you mean 'source'?)"));
  }
  SECTION("first stage is not a source") {
    std::string e = errors_of(R"(stages:
  - id: w
    type: test.work
)");
    CHECK_THAT(e, Catch::Contains("p.yaml:2:5: stage 'w': has no input"));
  }
  SECTION("a source with an input, a writer used as input, too many inputs") {
    std::string e = errors_of(R"(stages:
  - id: s1
    type: test.source
  - id: s2
    type: test.source
    input: s1
  - id: out
    type: test.collect
    input: s1
  - id: w
    type: test.work
    input: out
  - id: pair
    type: test.pair
    inputs: [s1, s1, s1]
)");
    CHECK_THAT(e, Catch::Contains("stage 's2': test.source is a source and takes no input"));
    CHECK_THAT(
        e, Catch::Contains("stage 'w': input 'out' is a writer (test.collect) and has no output"));
    CHECK_THAT(e, Catch::Contains("stage 'pair': test.pair takes 1 to 2 input(s) (a, b), got 3"));
  }
  SECTION("duplicate ids") {
    std::string e = errors_of(R"(stages:
  - id: s
    type: test.source
  - id: s
    type: test.collect
)");
    CHECK_THAT(e, Catch::Contains("p.yaml:4:9: stage 's': duplicate stage id 's'"));
  }
}

TEST_CASE("concurrency above the schema's limit is rejected") {
  std::string e = errors_of(R"(stages:
  - id: src
    type: test.source
  - id: p
    type: test.params
    concurrency: unlimited
    params: { model: m }
)");
  CHECK_THAT(
      e, Catch::Contains(
             "p.yaml:6:18: stage 'p': concurrency unlimited exceeds what test.params allows (4)"));
}

TEST_CASE("all errors are reported at once") {
  std::string e = errors_of(R"(stages:
  - id: src
    type: test.source
    params: { count: -1, extra: 2 }
  - id: w
    type: nope.nope
)");
  CHECK_THAT(e, Catch::Contains("'count' must be between 0 and"));
  CHECK_THAT(e, Catch::Contains("unknown parameter 'extra'"));
  CHECK_THAT(e, Catch::Contains("unknown stage type 'nope.nope'"));
}

TEST_CASE("YAML syntax errors carry their position") {
  std::string e = errors_of("stages:\n  - id: a\n    type: [unclosed\n");
  CHECK_THAT(e, Catch::Contains("p.yaml:"));
  CHECK_THAT(e, Catch::Contains("YAML syntax error"));
}

TEST_CASE("unknown top-level keys are reported") {
  std::string e = errors_of("pipline: x\nstages:\n  - id: s\n    type: test.source\n");
  CHECK_THAT(
      e, Catch::Contains("p.yaml:1:1: unknown top-level key 'pipline' (did you mean 'pipeline'?)"));
}

TEST_CASE("env expansion values") {
  LoadOptions opts;
  opts.env["EF_COUNT"] = "7";
  auto cfg = load_pipeline_string(R"(stages:
  - id: src
    type: test.source
    params:
      count: ${EF_COUNT}
  - id: out
    type: test.collect
    input: src
)",
                                  "p.yaml", registry(), opts);
  CHECK(cfg.stages[0].params.get_int("count") == 7);

  std::string e = errors_of(R"(stages:
  - id: src
    type: test.source
    params:
      count: ${EF_SURELY_NOT_SET_ANYWHERE}
)");
  CHECK_THAT(e, Catch::Contains("p.yaml:5:14: stage 'src': environment variable "
                                "'EF_SURELY_NOT_SET_ANYWHERE' is not set"));

  auto with_default = load_pipeline_string(R"(stages:
  - id: src
    type: test.source
    params: { count: "${EF_SURELY_NOT_SET_ANYWHERE:-12}" }
  - id: out
    type: test.collect
)",
                                           "p.yaml", registry(), opts);
  // Quoted expansions are common; a numeric string is accepted for a numeric parameter.
  CHECK(with_default.stages[0].params.get_int("count") == 12);

  // Defaults nest, and $$ is a literal dollar.
  opts.env["EF_INNER"] = "inner";
  auto nested = load_pipeline_string(R"(stages:
  - id: src
    type: test.source
    params:
      label: ${EF_SURELY_NOT_SET_ANYWHERE:-${EF_INNER}/m}-$$HOME
  - id: out
    type: test.collect
)",
                                     "p.yaml", registry(), opts);
  CHECK(nested.stages[0].params.get_string("label") == "inner/m-$HOME");
}

TEST_CASE("command-line overrides are applied and validated like the file") {
  const char* yaml = kSourceAndSink;
  LoadOptions ok;
  ok.overrides = {"src.count=9", "threads=4"};
  auto cfg = load_pipeline_string(yaml, "p.yaml", registry(), ok);
  CHECK(cfg.stages[0].params.get_int("count") == 9);
  CHECK(cfg.threads == 4);

  LoadOptions bad;
  bad.overrides = {"src.count=lots", "nosuch.count=1"};
  std::string e = errors_of(yaml, bad);
  CHECK_THAT(e, Catch::Contains("stage 'src': parameter 'count' expects an integer, got \"lots\""));
  CHECK_THAT(e, Catch::Contains("--set nosuch.count=1: stage 'nosuch': no stage with id 'nosuch'"));
}

TEST_CASE("resolve_params validates a JSON object for code that builds stages directly") {
  const StageType* t = registry().find("test.params");
  REQUIRE(t);
  Params p = resolve_params(t->schema, "x", Json{{"model", "m"}, {"mel", Json::object()}});
  CHECK(p.get_int("n_fft") == 400);
  CHECK(p.has("mel"));
  CHECK(p.block("mel").get_int("n_mels") == 128);
  CHECK_FALSE(resolve_params(t->schema, "x", Json{{"model", "m"}}).has("mel"));
  CHECK_THROWS_AS(resolve_params(t->schema, "x", Json{{"n_fft", 4}}), ConfigError);
}

TEST_CASE("an output nobody consumes is a warning, not an error") {
  auto cfg = load_pipeline_string(R"(stages:
  - id: src
    type: test.source
)",
                                  "p.yaml", registry());
  REQUIRE(cfg.warnings.size() == 1);
  CHECK_THAT(cfg.warnings[0].str(), Catch::Contains("stage 'src': output is not used"));
}

TEST_CASE("a pass-through stage produces the kind it is given, for the port checks after it") {
  auto cfg = load_pipeline_string(R"(stages:
  - id: src
    type: test.source
  - id: pass
    type: test.pass
  - id: work
    type: test.work
  - id: out
    type: test.collect
)",
                                  "p.yaml", registry());
  CHECK(cfg.stages[1].output == Kind::Text);
  std::string e = errors_of(R"(stages:
  - id: src
    type: test.source
  - id: pass
    type: test.pass
  - id: p
    type: test.params
    params: { model: m }
)");
  CHECK_THAT(e, Catch::Contains("stage 'p': input 'pass' (test.pass) produces text, but port 'in' "
                                "of test.params accepts audio"));
}

constexpr const char* kTwoStages = R"(stages:
  - id: src
    type: test.source
  - id: out
    type: test.collect
)";

TEST_CASE("a declared section is validated like params, defaults filled, values located") {
  LoadOptions opts;
  opts.env["EF_WEIGHT"] = "3";
  auto cfg = load_pipeline_string(std::string(kTwoStages) + R"(review:
  per_stage:
    src: { weight: "${EF_WEIGHT}" }
    out:
)",
                                  "p.yaml", registry(), opts);
  const Params* review = cfg.section("review");
  REQUIRE(review);
  CHECK(review->get_float("score") == Approx(0.5));  // default
  Params per_stage = review->block("per_stage");
  CHECK(per_stage.block("src").get_int("weight") == 3);
  CHECK(per_stage.block("out").get_int("weight") == 1);  // an entry without a value: defaults
  CHECK_FALSE(per_stage.block("src").has("note"));
  CHECK(review->where("per_stage.src").str() == "p.yaml:8:10");

  // Absent from the file: the defaults. Not declared: an unknown top-level key.
  auto plain = load_pipeline_string(kTwoStages, "p.yaml", registry());
  REQUIRE(plain.section("review"));
  CHECK_FALSE(plain.section("review")->has("per_stage"));
  CHECK(cfg.section("nosuch") == nullptr);
  Registry undeclared;
  test::register_test_stages(undeclared);
  CHECK_THROWS_WITH(
      load_pipeline_string(std::string(kTwoStages) + "review: {}\n", "p.yaml", undeclared),
      Catch::Contains("unknown top-level key 'review'"));

  std::string e = errors_of(std::string(kTwoStages) + R"(review:
  scor: 2
  per_stage:
    src: { weight: 10, nte: x }
    nosuch: { weight: 2 }
    out: 4
)");
  CHECK_THAT(e, Catch::Contains("p.yaml:7:3: unknown key 'review.scor' (did you mean 'score'?)"));
  CHECK_THAT(e, Catch::Contains("p.yaml:9:20: key 'review.per_stage.src.weight' must be between 1 "
                                "and 9, got 10"));
  CHECK_THAT(e, Catch::Contains("unknown key 'review.per_stage.src.nte' (did you mean 'note'?)"));
  CHECK_THAT(e, Catch::Contains("p.yaml:10:13: review.per_stage.nosuch: no such stage"));
  CHECK_THAT(e, Catch::Contains("key 'review.per_stage.out' expects a mapping of weight, note"));
  CHECK_THAT(errors_of(std::string(kTwoStages) + "review: 3\n"),
             Catch::Contains("'review' must be a mapping of score, per_stage, got 3"));
}

TEST_CASE("a declared section takes --set overrides, nested map entries included") {
  LoadOptions opts;
  opts.overrides = {"review.score=0.25", "review.per_stage.src.weight=7"};
  auto cfg = load_pipeline_string(kTwoStages, "p.yaml", registry(), opts);
  CHECK(cfg.section("review")->get_float("score") == Approx(0.25));
  CHECK(cfg.section("review")->block("per_stage").block("src").get_int("weight") == 7);

  // Nested --set keeps the siblings of what it sets.
  opts.overrides = {"review.per_stage.src.note=x"};
  cfg = load_pipeline_string(std::string(kTwoStages) + R"(review:
  per_stage:
    src: { weight: 2 }
    out: { weight: 3 }
)",
                             "p.yaml", registry(), opts);
  Params per_stage = cfg.section("review")->block("per_stage");
  CHECK(per_stage.block("src").get_int("weight") == 2);
  CHECK(per_stage.block("src").get_string("note") == "x");
  CHECK(per_stage.block("out").get_int("weight") == 3);

  opts.overrides = {"review.score=2"};
  CHECK_THAT(errors_of(kTwoStages, opts),
             Catch::Contains("key 'review.score' must be between 0 and 1, got 2"));
}

TEST_CASE("tap is a boolean stage key, validated like a Bool parameter") {
  auto tap_of = [](const std::string& value) {
    auto cfg =
        load_pipeline_string("stages:\n  - id: src\n    type: test.source\n    tap: " + value +
                                 "\n  - id: out\n    type: test.collect\n",
                             "p.yaml", registry());
    return cfg.stages[0].tap;
  };
  CHECK(tap_of("true"));
  CHECK(tap_of("True"));
  CHECK(tap_of("\"true\""));
  CHECK_FALSE(tap_of("false"));
  CHECK_THAT(errors_of("stages:\n  - id: src\n    type: test.source\n    tap: 3\n"),
             Catch::Contains("p.yaml:4:10: stage 'src': key 'tap' expects true or false, got 3"));
  CHECK_THAT(errors_of("stages:\n  - id: src\n    type: test.source\n    tap: yes\n"),
             Catch::Contains("key 'tap' expects true or false, got \"yes\""));
}

// ---------------------------------------------------------------------------------------------
// Hostile or careless files: each case once crashed, exhausted memory or was misread.

TEST_CASE("an override whose key has an empty part is an error, not a crash") {
  for (const char* ov : {"src.=1", ".count=1", "src..count=1", "src.count.=1"}) {
    INFO(ov);
    LoadOptions o;
    o.overrides = {ov};
    CHECK_THAT(errors_of(kSourceAndSink, o), Catch::Contains("has an empty part"));
  }
}

TEST_CASE("an override of a parameter of a stage whose params are not a mapping is an error") {
  // yaml-cpp threw BadSubscript out of the loader (found by tests/fuzz/config_fuzz).
  for (const char* params : {"e.png", "[1, 2]"}) {
    INFO(params);
    LoadOptions o;
    o.overrides = {"src.count=3", "src.mel.n_mels=4"};
    const std::string yaml = std::string("stages:\n  - id: src\n    type: test.source\n") +
                             "    params: " + params + "\n  - id: out\n    type: test.collect\n";
    CHECK_THAT(errors_of(yaml, o), Catch::Contains("stage 'src': 'params' must be a mapping"));
  }
}

TEST_CASE("aliases that refer to themselves or multiply are refused, not followed") {
  // Self-reference, in the file and through --set (the converter recursed until the stack
  // overflowed).
  CHECK_THAT(errors_of(std::string(kSourceAndSink) + "    params: { x: &a [*a] }\n"),
             Catch::Contains("deeper than 64 levels"));
  LoadOptions o;
  o.overrides = {"src.count=&a [*a]"};
  CHECK_THAT(errors_of(kSourceAndSink, o), Catch::Contains("deeper than 64 levels"));
  // A "billion laughs": 10 levels of 10 aliases each (10^10 strings once expanded).
  std::string bomb =
      "stages:\n  - id: src\n    type: test.source\n    params:\n      count: 5\n"
      "      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "      l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", *l" : "*l") + std::to_string(i - 1);
    bomb += "]\n";
  }
  bomb += "  - id: out\n    type: test.collect\n";
  CHECK_THAT(errors_of(bomb), Catch::Contains("alias bomb"));
}

TEST_CASE("nested ${…:-…} defaults are bounded (they once cost quadratic memory)") {
  std::string deep = "x";
  for (int i = 0; i < 20000; ++i)
    deep = "${UNSET_EMBEDFLOW_VAR_" + std::to_string(i % 7) + ":-" + deep + "}";
  // Linear-size input: the expansion must answer at once with an error.
  std::string yaml =
      std::string("stages:\n  - id: src\n    type: test.source\n    params: { count: \"") + deep +
      "\" }\n  - id: out\n    type: test.collect\n";
  CHECK_THAT(errors_of(yaml), Catch::Contains("nest deeper than 16 levels"));
  // Sixteen levels still work.
  std::string ok = "7";
  for (int i = 0; i < 16; ++i) ok = "${UNSET_EMBEDFLOW_VAR:-" + ok + "}";
  auto cfg = load_pipeline_string(
      std::string("stages:\n  - id: src\n    type: test.source\n    params: { count: \"") + ok +
          "\" }\n  - id: out\n    type: test.collect\n",
      "p.yaml", registry());
  CHECK(cfg.stages[0].params.get_int("count") == 7);
}

TEST_CASE("duplicate keys anywhere are errors, not first-one-wins") {
  CHECK_THAT(errors_of(std::string("threads: 2\nthreads: 3\n") + kSourceAndSink),
             Catch::Contains("p.yaml:2:1: duplicate key 'threads'"));
  CHECK_THAT(errors_of(R"(stages:
  - id: src
    type: test.source
    type: test.collect
    params: { count: 5 }
  - id: out
    type: test.collect
)"),
             Catch::Contains("stage 'src': duplicate key 'type'"));
}

TEST_CASE("numbers beyond their type and absurd thread counts are reported as written") {
  CHECK_THAT(errors_of(R"(stages:
  - id: src
    type: test.source
    params: { count: 1e300 }
  - id: out
    type: test.collect
)"),
             Catch::Contains("expects an integer, got 1e+300"));
  CHECK_THAT(errors_of(std::string("threads: 5000000000\n") + kSourceAndSink),
             Catch::Contains("threads must be an integer from 0 to 1024, got 5000000000"));
  CHECK_THAT(errors_of(std::string("max_in_flight: 99999999999\n") + kSourceAndSink),
             Catch::Contains("max_in_flight must be an integer from 0 to 10000000"));
}

TEST_CASE("an unquoted ${VAR} in a flow mapping gets a hint to quote it") {
  CHECK_THAT(errors_of(R"(stages:
  - id: src
    type: test.source
    params: { count: ${N} }
)"),
             Catch::Contains("must be quoted"));
}

TEST_CASE("a --set value is located at the --set, not at a line of the file") {
  LoadOptions o;
  o.overrides = {"src.count=lots"};
  CHECK_THAT(errors_of(kSourceAndSink, o),
             Catch::Contains("--set src.count=lots: stage 'src': parameter 'count'"));
}

TEST_CASE("stage ids that would name folders outside their place are refused") {
  for (const char* id : {"../../../tmp/evil", "./w", "a/b", ".hidden", "a..b", "with space"}) {
    INFO(id);
    CHECK_THAT(errors_of(std::string("stages:\n  - id: \"") + id +
                         "\"\n    type: test.source\n    params: { count: 1 }\n"),
               Catch::Contains("may hold only letters, digits"));
  }
  CHECK(errors_of(R"(stages:
  - id: src_1.a:b-c
    type: test.source
    params: { count: 1 }
  - id: out
    type: test.collect
)")
            .empty());
}

TEST_CASE("did you mean: typos and contained names are suggested, a paragraph is not") {
  const std::vector<std::string> types = {"audio.spectrogram", "audio.load", "image.load",
                                          "write.npy", "encode.text"};
  CHECK(embedflow::edit_distance("kitten", "sitting") == 3);
  CHECK(embedflow::closest_names("audio.spectrgram", types) ==
        std::vector<std::string>{"audio.spectrogram"});
  CHECK(embedflow::closest_names("spectrogram", types) ==
        std::vector<std::string>{"audio.spectrogram"});
  CHECK(embedflow::closest_names("image.lod", types).front() == "image.load");
  CHECK(embedflow::did_you_mean("writ.npy", types) == " (did you mean 'write.npy'?)");
  CHECK(embedflow::closest_names("zzzzzz", types).empty());
  // Far longer than any candidate: nothing within the distance limit, and nothing contains it.
  CHECK(embedflow::closest_names(std::string(100000, 'a') + "write.npy", types).empty());
  // A short name that a much longer candidate contains is still found, although the lengths
  // differ by more than the distance limit.
  CHECK(embedflow::closest_names("npy", {"a.very.long.stage.type.write.npy"}) ==
        std::vector<std::string>{"a.very.long.stage.type.write.npy"});
}
