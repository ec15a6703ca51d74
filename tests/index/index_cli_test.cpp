// The index as users build and query it: `embedflow run` with write.index on the committed tiny
// text model, then `embedflow search`, checked against the float64 reference BERT's embeddings of
// the same sentences (tests/fixtures/text/make_models.py); and the mistakes users make.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "embedflow/npy.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

const std::string kModel = "tests/fixtures/text/tiny-bert-uncased";
const std::string kSentences = "examples/media/text/sentences.txt";

CommandResult in_root(const std::string& args) {
  return run_command("cd '" + source_path("") + "' && '" + EMBEDFLOW_CLI + "' " + args);
}

std::string text_index_yaml(const std::string& texts, const std::string& index,
                            const std::string& kind) {
  return "pipeline: text_index\nstages:\n"
         "  - id: lines\n    type: source.text\n    params: { file: '" +
         texts +
         "' }\n"
         "  - id: embed\n    type: encode.text\n    params: { model: '" +
         source_path(kModel) +
         "' }\n"
         "  - id: index\n    type: write.index\n    params: { path: '" +
         index + "', kind: " + kind + " }\n";
}

double cosine_rows(const Tensor& m, int64_t a, int64_t b) {
  const int64_t d = m.dim(1);
  double ab = 0, aa = 0, bb = 0;
  for (int64_t j = 0; j < d; ++j) {
    const double x = m.data<float>()[a * d + j], y = m.data<float>()[b * d + j];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / std::max(std::sqrt(aa * bb), 1e-12);
}

}  // namespace

TEST_CASE("an index built by embedflow run is searched by embedflow search with labelled hits",
          "[index][cli]") {
  TempDir dir("index-cli");
  const std::vector<std::string> lines = read_lines(source_path(kSentences));
  const Tensor ref =
      load_npy(source_path("tests/fixtures/text/tiny_uncased_sentences_expected.npy"));
  REQUIRE(ref.dim(0) == static_cast<int64_t>(lines.size()));
  const std::string kind = GENERATE(std::string("flat"), std::string("hnsw"));
  INFO("kind " << kind);
  write_file(dir.file("build.yaml"),
             text_index_yaml(source_path(kSentences), dir.file("s.index"), kind));
  CommandResult r = in_root("run '" + dir.file("build.yaml") + "' --progress off");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // The sidecar names each row by its line and keeps the sentence.
  const std::vector<Json> labels = read_jsonl(dir.file("s.jsonl"));
  REQUIRE(labels.size() == lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    CHECK(labels[i]["id"] == std::to_string(i));
    if (!lines[i].empty()) CHECK(labels[i]["text"] == lines[i]);
  }

  const int64_t k = 5;
  const std::vector<int64_t> queries = {3, 10, 17};
  std::string args = "search '" + dir.file("s.index") + "' --model " + kModel + " -k " +
                     std::to_string(k) + " --json";
  for (int64_t q : queries) args += " --text '" + lines[static_cast<size_t>(q)] + "'";
  r = in_root(args);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::vector<Json> results;
  std::istringstream out(r.output);
  for (std::string line; std::getline(out, line);)
    if (!line.empty() && line[0] == '{') results.push_back(Json::parse(line));
  REQUIRE(results.size() == queries.size());
  for (size_t qi = 0; qi < queries.size(); ++qi) {
    const int64_t q = queries[qi];
    // The reference's ranking of every line against line q, best first.
    std::vector<double> cos(lines.size());
    for (size_t r2 = 0; r2 < lines.size(); ++r2) cos[r2] = cosine_rows(ref, q, r2);
    std::vector<double> sorted = cos;
    std::sort(sorted.rbegin(), sorted.rend());
    const Json& res = results[qi];
    CHECK(res["query"] == lines[static_cast<size_t>(q)]);
    REQUIRE(res["hits"].size() == static_cast<size_t>(k));
    // The sentence itself comes first.
    CHECK(res["hits"][0]["id"] == std::to_string(q));
    for (int64_t i = 0; i < k; ++i) {
      const Json& h = res["hits"][i];
      INFO("query line " << q << " rank " << i + 1 << ": " << h.dump());
      const auto row = static_cast<size_t>(std::stoll(h["id"].get<std::string>()));
      // Ties aside, the rank's score is the reference's i-th best, and belongs to that row.
      CHECK(h["score"].get<double>() == Approx(sorted[i]).margin(2e-5));
      CHECK(h["score"].get<double>() == Approx(cos[row]).margin(2e-5));
      CHECK(h["label"] == lines[row]);
    }
  }

  // Without --json: each query, then its hits with scores and texts.
  r = in_root("search '" + dir.file("s.index") + "' --model " + kModel + " -k 2 --text '" +
              lines[3] + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("query: " + lines[3]));
  CHECK_THAT(r.output, Catch::Contains("  1   1.0000  " + lines[3]));
}

TEST_CASE("index mistakes are located errors and leave nothing behind", "[index][cli]") {
  TempDir dir("index-errors");
  SECTION("a missing index file") {
    const CommandResult r =
        in_root("search '" + dir.file("none.index") + "' --model " + kModel + " --text hello");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(dir.file("none.index")));
    CHECK_THAT(r.output, Catch::Contains("stage 'search': index: '" + dir.file("none.index") +
                                         "' does not exist"));
  }
  SECTION("an empty input") {
    write_file(dir.file("empty.txt"), "");
    write_file(dir.file("build.yaml"),
               text_index_yaml(dir.file("empty.txt"), dir.file("e.index"), "hnsw"));
    const CommandResult r = in_root("run '" + dir.file("build.yaml") + "' --progress off");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("stage 'index'"));
    CHECK_THAT(r.output, Catch::Contains("no embeddings arrived"));
    CHECK_FALSE(fs::exists(dir.file("e.index")));
    CHECK_FALSE(fs::exists(dir.file("e.jsonl")));
    for (const auto& e : fs::directory_iterator(dir.path()))
      CHECK(e.path().filename().string().find("e.") != 0);  // no temporaries either
  }
  SECTION("queries of another width than the index's") {
    Tensor rows(DType::F32, {50, 24});
    for (int64_t i = 0; i < rows.numel(); ++i) rows.data<float>()[i] = std::sin(float(i));
    write_npy(dir.file("rows.npy"), rows);
    write_file(dir.file("build.yaml"),
               "pipeline: b\nstages:\n  - id: rows\n    type: source.npy\n    params: { path: '" +
                   dir.file("rows.npy") +
                   "', sidecar: false }\n  - id: index\n    type: write.index\n    params: { "
                   "path: '" +
                   dir.file("w.index") + "' }\n");
    CommandResult r = in_root("run '" + dir.file("build.yaml") + "' --progress off");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    r = in_root("search '" + dir.file("w.index") + "' --model " + kModel + " --text hello");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("32-d but " + dir.file("w.index") + " holds 24-d"));
    CHECK_THAT(r.output, Catch::Contains("the model that built the index"));
  }
  SECTION("ivf with more lists than vectors") {
    write_file(dir.file("few.txt"), "one\ntwo\nthree\n");
    std::string yaml = text_index_yaml(dir.file("few.txt"), dir.file("f.index"), "ivf");
    yaml.replace(yaml.rfind(" }"), 2, ", nlist: 8 }");
    write_file(dir.file("build.yaml"), yaml);
    const CommandResult r = in_root("run '" + dir.file("build.yaml") + "' --progress off");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("nlist 8 needs at least 8 vectors"));
    CHECK_FALSE(fs::exists(dir.file("f.index")));
  }
}
