// configs/clip_image_text.yaml through the CLI: one photo against three captions, scored by
// score.cosine, against cosines of the Python reference embeddings.
#include <catch2/catch.hpp>

#include <map>
#include <sstream>

#include "tests/clip/clip_test_util.h"

using namespace clip_test;
using embedflow::test::cosine;
using embedflow::test::load_npy;
using embedflow::test::source_path;

namespace {

// corpus_id → score from the ranking CSV (rank,corpus_id,score,query_id).
std::map<int, double> read_ranking(const std::string& path) {
  std::istringstream in(embedflow::test::read_file(path));
  std::string line;
  std::getline(in, line);
  REQUIRE(line == "rank,corpus_id,score,query_id");
  std::map<int, double> scores;
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string rank, corpus, score;
    std::getline(row, rank, ',');
    std::getline(row, corpus, ',');
    std::getline(row, score, ',');
    scores[std::stoi(corpus)] = std::stod(score);
  }
  return scores;
}

}  // namespace

TEST_CASE("configs/clip_image_text.yaml ranks three captions for one photo like the reference",
          "[clip][pipeline]") {
  embedflow::test::TempDir out("clip_pipeline");
  const auto r = embedflow::test::run_command(
      "OUT=" + out.path() + " CLIP_MODEL=" + source_path("tests/fixtures/clip/tiny") + " " +
      EMBEDFLOW_CLI + " run " + source_path("configs/clip_image_text.yaml"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // The printed 1x3 matrix.
  CHECK_THAT(r.output, Catch::Contains("tensor([["));

  // The default model is the committed tiny one; the photo is chelsea.jpg (expected row 3).
  const auto expected = read_json(tiny_expected("expected.json"));
  REQUIRE(expected["images"][3] == "examples/media/images/chelsea.jpg");
  REQUIRE(expected["captions"][0] == "A crazy cat smiling.");
  const Tensor image = load_npy(tiny_expected("image_from_files.npy"));
  const Tensor text = load_npy(tiny_expected("text.npy"));
  const int64_t d = image.dim(1);
  const auto scores = read_ranking(out.file("ranking.csv"));
  REQUIRE(scores.size() == 3);
  for (int c = 0; c < 3; ++c) {
    const double want = cosine(image.data<float>() + 3 * d, text.data<float>() + c * d, d);
    CHECK(scores.at(c) == Approx(want).margin(1e-5));
  }
}
