// `embedflow test` as a user runs it: record goldens with --update, pass against them, then
// fail (exit 1, with the output, row and item id named) once a golden value is edited.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "embedflow/item.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

// Texts → stats (tapped) → JSON Lines and CSV.
std::string text_pipeline(const TempDir& dir, const std::string& test_section = "") {
  return R"(pipeline: regression_text
stages:
  - id: sentences
    type: source.text
    params: { items: ["one two", "three", "four five six"] }
    tap: true
  - id: stats
    type: text.stats
  - id: save
    type: write.jsonl
    params: { path: )" +
         dir.file("out/stats.jsonl") + R"( }
  - id: table
    type: write.csv
    input: stats
    params: { path: )" +
         dir.file("out/stats.csv") + R"(, columns: [id, words, avg_word_length] }
)" + test_section;
}

// Bundled images → pixels (tapped, uint8) → normalised 32x32 tensors stacked in one .npy.
std::string image_pipeline(const TempDir& dir) {
  return R"(pipeline: regression_images
stages:
  - id: files
    type: source.files
    params: { dir: )" +
         source_path("examples/media/images") + R"(, extensions: [".png", ".jpg"], limit: 3 }
  - id: pixels
    type: image.load
    tap: true
  - id: prep
    type: image.preprocess
    params: { resize: 32, crop: 32 }
  - id: save
    type: write.npy
    params: { path: )" +
         dir.file("out/pixels.npy") + R"( }
)";
}

CommandResult python(const std::string& code) {
  return run_command(std::string(EMBEDFLOW_REFERENCE_PYTHON) + " -c \"" + code + "\"");
}

}  // namespace

TEST_CASE("cli test: --update records goldens and a manifest, and a rerun passes") {
  TempDir dir;
  write_file(dir.file("p.yaml"), text_pipeline(dir));
  std::string golden = dir.file("golden");

  auto up = run_cli("test " + dir.file("p.yaml") + " --golden " + golden + " --update");
  INFO(up.output);
  REQUIRE(up.exit_code == 0);
  CHECK(fs::is_regular_file(golden + "/stats.jsonl"));
  CHECK(fs::is_regular_file(golden + "/stats.csv"));
  CHECK(fs::is_regular_file(golden + "/taps/sentences.jsonl"));  // the tapped source
  CHECK(read_lines(golden + "/stats.jsonl") == read_lines(dir.file("out/stats.jsonl")));

  Json manifest = Json::parse(read_file(golden + "/manifest.json"));
  CHECK(manifest["embedflow_version"] == EMBEDFLOW_VERSION);
  CHECK(manifest["config_hash"].get<std::string>().size() == 64);
  CHECK(manifest["tolerances"]["min_cosine"] == Approx(0.9999));
  CHECK_FALSE(manifest["created"].get<std::string>().empty());
  std::vector<std::string> listed;
  for (const auto& o : manifest["outputs"])
    listed.push_back(o["stage"].get<std::string>() + " " + o["path"].get<std::string>());
  std::sort(listed.begin(), listed.end());
  CHECK(listed == std::vector<std::string>{"save stats.jsonl", "table stats.csv",
                                           "tap:sentences taps/sentences.jsonl"});
  auto tap = read_lines(golden + "/taps/sentences.jsonl");
  REQUIRE(tap.size() == 3);
  CHECK(Json::parse(tap[2])["text"] == "four five six");

  auto t = run_cli("test " + dir.file("p.yaml") + " --golden " + golden);
  INFO(t.output);
  CHECK(t.exit_code == 0);
  CHECK_THAT(t.output, Catch::Contains("PASSED: 3 output(s) match"));
}

TEST_CASE("cli test: an edited golden value fails with the output, line and id named") {
  TempDir dir;
  write_file(dir.file("p.yaml"), text_pipeline(dir));
  std::string golden = dir.file("golden");
  REQUIRE(run_cli("test " + dir.file("p.yaml") + " --golden " + golden + " --update").exit_code ==
          0);

  // "three" has one word; make the golden say two.
  auto lines = read_lines(golden + "/stats.jsonl");
  REQUIRE(lines.size() == 3);
  Json second = Json::parse(lines[1]);
  REQUIRE(second["record"]["words"] == 1);
  second["record"]["words"] = 2;
  lines[1] = second.dump();
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  write_file(golden + "/stats.jsonl", text);

  auto t = run_cli("test " + dir.file("p.yaml") + " --golden " + golden + " --report " +
                   dir.file("report.json"));
  INFO(t.output);
  CHECK(t.exit_code == 1);
  CHECK_THAT(t.output, Catch::Contains("DIFFERS  stats.jsonl  (stage 'save'): 1 mismatch"));
  CHECK_THAT(t.output, Catch::Contains("line 2 (id \"1\"): 'record.words': golden 2, now 1"));
  CHECK_THAT(t.output, Catch::Contains("ok  stats.csv  (stage 'table')"));
  CHECK_THAT(t.output, Catch::Contains("FAILED: 1 differ"));

  Json report = Json::parse(read_file(dir.file("report.json")));
  CHECK(report["ok"] == false);
  bool found = false;
  for (const auto& o : report["outputs"])
    if (o["path"] == "stats.jsonl") {
      found = true;
      CHECK(o["status"] == "differ");
      CHECK(o["mismatches"][0]["id"] == "1");
    }
  CHECK(found);
}

TEST_CASE("cli test: an .npy row moved beyond atol names its row and item id, and so do taps") {
  TempDir dir;
  write_file(dir.file("p.yaml"), image_pipeline(dir));
  std::string golden = dir.file("golden");
  auto up = run_cli("test " + dir.file("p.yaml") + " --golden " + golden + " --update");
  INFO(up.output);
  REQUIRE(up.exit_code == 0);
  REQUIRE(fs::is_regular_file(golden + "/pixels.npy"));
  REQUIRE(fs::is_regular_file(golden + "/taps/pixels/index.jsonl"));
  auto index = read_lines(golden + "/taps/pixels/index.jsonl");
  REQUIRE(index.size() == 3);
  CHECK(fs::is_regular_file(golden + "/taps/pixels/" +
                            Json::parse(index[0])["file"].get<std::string>()));

  REQUIRE(run_cli("test " + dir.file("p.yaml") + " --golden " + golden).exit_code == 0);

  // numpy edits the goldens: row 1 of the stacked tensors, one pixel of the third image's tap.
  auto sidecar = read_lines(golden + "/pixels.jsonl");
  REQUIRE(sidecar.size() == 3);
  std::string row1_id = Json::parse(sidecar[1])["id"];
  std::string tap2 = golden + "/taps/pixels/" + Json::parse(index[2])["file"].get<std::string>();
  auto edit = python("import numpy as np; p = '" + golden +
                     "/pixels.npy'; a = np.load(p); "
                     "assert a.shape == (3, 3, 32, 32), a.shape; a[1, 2, 5, 7] += 0.01; "
                     "np.save(p, a); t = np.load('" +
                     tap2 +
                     "'); assert t.dtype == np.uint8; "
                     "t[0, 0, 0] ^= 1; np.save('" +
                     tap2 + "', t)");
  INFO(edit.output);
  REQUIRE(edit.exit_code == 0);

  auto t = run_cli("test " + dir.file("p.yaml") + " --golden " + golden);
  INFO(t.output);
  CHECK(t.exit_code == 1);
  CHECK_THAT(t.output, Catch::Contains("DIFFERS  pixels.npy  (stage 'save'): 1 mismatch"));
  CHECK_THAT(t.output,
             Catch::Contains("row 1 (id " + Json(row1_id).dump() + "): 1 of 3072 values"));
  CHECK_THAT(t.output, Catch::Contains("at [1, 2, 5, 7]"));
  // The tap of the loaded pixels pinpoints the image, compared exactly as uint8.
  CHECK_THAT(t.output, Catch::Contains("(stage 'tap:pixels'): 1 mismatch"));
  CHECK_THAT(t.output,
             Catch::Contains("(id " + Json(Json::parse(index[2])["id"]).dump() + "): 1 of"));
  CHECK_THAT(t.output, Catch::Contains("compared exactly"));

  // A looser per-output tolerance accepts the tensor change (the tap still fails).
  std::string loose = image_pipeline(dir) + "test:\n  outputs:\n    save: { atol: 0.02 }\n";
  write_file(dir.file("loose.yaml"), loose);
  auto l = run_cli("test " + dir.file("loose.yaml") + " --golden " + golden);
  INFO(l.output);
  CHECK(l.exit_code == 1);
  CHECK_THAT(l.output, Catch::Contains("ok  pixels.npy  (stage 'save'): 3 rows"));
  // The test: section is not part of the config hash.
  CHECK_THAT(l.output, !Catch::Contains("warning: the pipeline's stages or parameters changed"));
}

TEST_CASE("cli test: missing and extra outputs fail, and a changed config is explained") {
  TempDir dir;
  write_file(dir.file("p.yaml"), text_pipeline(dir));
  std::string golden = dir.file("golden");
  REQUIRE(run_cli("test " + dir.file("p.yaml") + " --golden " + golden + " --update").exit_code ==
          0);

  // Drop the CSV writer and tap the stats: stats.csv is missing, the stats tap is extra.
  std::string yaml = text_pipeline(dir);
  yaml = yaml.substr(0, yaml.find("  - id: table"));
  yaml.replace(yaml.find("    type: text.stats\n"), 21, "    type: text.stats\n    tap: true\n");
  write_file(dir.file("q.yaml"), yaml);
  auto t = run_cli("test " + dir.file("q.yaml") + " --golden " + golden);
  INFO(t.output);
  CHECK(t.exit_code == 1);
  CHECK_THAT(t.output, Catch::Contains("MISSING  stats.csv  (stage 'table')"));
  CHECK_THAT(t.output, Catch::Contains("EXTRA  taps/stats.jsonl  (stage 'tap:stats')"));
  CHECK_THAT(t.output, Catch::Contains("warning: the pipeline's stages or parameters changed"));
  CHECK_THAT(t.output, Catch::Contains("FAILED: 1 missing, 1 extra"));

  // --update re-records: the stale golden is removed, the new tap added.
  REQUIRE(run_cli("test " + dir.file("q.yaml") + " --golden " + golden + " --update").exit_code ==
          0);
  CHECK_FALSE(fs::exists(golden + "/stats.csv"));
  CHECK(fs::exists(golden + "/taps/stats.jsonl"));
  CHECK(run_cli("test " + dir.file("q.yaml") + " --golden " + golden).exit_code == 0);
}

TEST_CASE("cli test: exit 2 for no goldens, a bad test section or a bad --set") {
  TempDir dir;
  write_file(dir.file("p.yaml"), text_pipeline(dir));
  auto none = run_cli("test " + dir.file("p.yaml") + " --golden " + dir.file("nothing"));
  CHECK(none.exit_code == 2);
  CHECK_THAT(none.output, Catch::Contains("no goldens in") && Catch::Contains("--update"));
  CHECK_FALSE(fs::exists(dir.file("out/stats.jsonl")));  // nothing ran

  write_file(dir.file("bad.yaml"),
             text_pipeline(dir, "test:\n  outputs:\n    tabel: { atol: 1 }\n"));
  auto bad = run_cli("test " + dir.file("bad.yaml") + " --golden " + dir.file("g") + " --update");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Catch::Contains("bad.yaml:") &&
                             Catch::Contains("no writer or tapped stage has id 'tabel'") &&
                             Catch::Contains("did you mean 'table'"));

  auto set = run_cli("test " + dir.file("p.yaml") + " --golden " + dir.file("g") +
                     " --update --set nosuch.x=1");
  CHECK(set.exit_code == 2);
  CHECK_THAT(set.output, Catch::Contains("no stage with id 'nosuch'"));

  auto usage = run_cli("test " + dir.file("p.yaml"));
  CHECK(usage.exit_code == 2);
  CHECK_THAT(usage.output, Catch::Contains("--golden"));
}

TEST_CASE("cli: validate and run accept a test: section, and all three report a bad one") {
  TempDir dir;
  write_file(dir.file("p.yaml"),
             text_pipeline(dir, "test:\n  atol: 1.0e-4\n  outputs:\n    table: { atol: 0 }\n"));
  auto validate = run_cli("validate " + dir.file("p.yaml"));
  INFO(validate.output);
  CHECK(validate.exit_code == 0);
  auto run = run_cli("run --progress off " + dir.file("p.yaml"));
  INFO(run.output);
  CHECK(run.exit_code == 0);

  write_file(dir.file("bad.yaml"), text_pipeline(dir, "test:\n  atol: -1\n"));
  for (const std::string command : {"validate", "run", "test"}) {
    auto r = run_cli(command + " " + dir.file("bad.yaml") +
                     (command == "test" ? " --golden " + dir.file("g") + " --update" : ""));
    INFO(command << ": " << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("bad.yaml:17:9: key 'test.atol' must be >= 0, got -1"));
  }
  // --set test.… is validated the same way.
  auto set = run_cli("validate " + dir.file("p.yaml") + " --set test.min_cosine=2");
  CHECK(set.exit_code == 2);
  CHECK_THAT(set.output, Catch::Contains("'test.min_cosine' must be between -1 and 1, got 2"));
}
