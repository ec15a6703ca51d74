// Every text family the transformer core loads (RoBERTa, XLM-RoBERTa, MPNet, DistilBERT, and
// BERT with a Dense module or last-token pooling) against the independent float64 reference
// written from transformers' modeling code (tests/fixtures/text/families_reference.py). The
// folders are generated at test time by make_families.py with random weights of the published
// shapes under the published key names; each holds ids.json (24 token-id lists), expected.npy
// (the sentence embeddings) and hidden.npy (the last hidden states).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "embedflow/npy.h"
#include "models/model_path.h"
#include "models/sentence_transformer.h"
#include "models/transformer/positions.h"
#include "models/transformer/text_model.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using embedflow::Tensor;
using embedflow::models::SentenceTransformer;
using embedflow::models::SentenceTransformerOptions;
using embedflow::models::TextTransformer;
using embedflow::models::TokenIds;
using Json = nlohmann::json;

namespace {

std::string case_dir(const std::string& name) {
  return embedflow::test::binary_path("generated/text/families/" + name);
}

std::vector<TokenIds> case_ids(const std::string& name) {
  std::ifstream f(case_dir(name) + "/ids.json");
  REQUIRE(f);
  return Json::parse(f).get<std::vector<TokenIds>>();
}

std::vector<double> unit_row(const float* p, int64_t n) {
  double norm = 0;
  for (int64_t i = 0; i < n; ++i) norm += double(p[i]) * p[i];
  norm = std::sqrt(norm);
  std::vector<double> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) r[static_cast<size_t>(i)] = p[i] / norm;
  return r;
}

// Largest |a − b| between the L2-normalised rows (the figure the issue bounds: what cosine
// similarity sees), and the largest |a − b| relative to the row's largest |b| (raw outputs).
struct Diff {
  double normalized = 0, relative = 0;
};
Diff compare_rows(const float* a, const float* b, int64_t rows, int64_t n) {
  Diff d;
  for (int64_t r = 0; r < rows; ++r) {
    const auto ua = unit_row(a + r * n, n), ub = unit_row(b + r * n, n);
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      d.normalized = std::max(d.normalized, std::abs(ua[i] - ub[i]));
      scale = std::max(scale, std::abs(double(b[r * n + i])));
      worst = std::max(worst, std::abs(double(a[r * n + i]) - b[r * n + i]));
    }
    d.relative = std::max(d.relative, worst / scale);
  }
  return d;
}

// The sentence embeddings of a case's ids, in batches of `batch` (1 and 2 threads: attention per
// group of sequences and per (sequence, head) both run), against expected.npy.
void check_embeddings(const std::string& name, int64_t batch, int threads) {
  auto model = SentenceTransformer::load(case_dir(name));
  const auto ids = case_ids(name);
  const Tensor expected = embedflow::read_npy(case_dir(name) + "/expected.npy");
  REQUIRE(expected.dim(0) == static_cast<int64_t>(ids.size()));
  REQUIRE(model->dim() == expected.dim(1));
  const int64_t d = model->dim();
  std::vector<float> got(ids.size() * static_cast<size_t>(d));
  for (size_t s = 0; s < ids.size(); s += static_cast<size_t>(batch)) {
    std::vector<TokenIds> chunk(
        ids.begin() + static_cast<std::ptrdiff_t>(s),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), s + batch)));
    const Tensor e = model->encode(chunk, threads);
    std::copy(e.data<float>(), e.data<float>() + e.numel(), got.begin() + s * d);
  }
  const Diff diff = compare_rows(got.data(), expected.data<float>(), expected.dim(0), d);
  INFO(name << " (" << model->describe() << "), batch " << batch << ", threads " << threads
            << ": normalised max |diff| " << diff.normalized << ", raw relative " << diff.relative);
  CHECK(diff.normalized <= 1e-5);
  CHECK(diff.relative <= 1e-4);
}

void check_hidden_states(const std::string& name) {
  const embedflow::models::ModelPath mp = embedflow::models::resolve_model_path(
      case_dir(name), embedflow::models::ModelFormat::Safetensors);
  const TextTransformer model =
      TextTransformer::load(embedflow::models::read_json_file(mp.config), mp.config, mp.weights);
  const auto ids = case_ids(name);
  const Tensor expected = embedflow::read_npy(case_dir(name) + "/hidden.npy");
  const std::vector<float> got = model.hidden_states(ids);
  REQUIRE(static_cast<int64_t>(got.size()) == expected.numel());
  const int64_t h = expected.dim(1);
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    worst = std::max(worst, std::abs(double(got[i]) - expected.data<float>()[i]));
    scale = std::max(scale, std::abs(double(expected.data<float>()[i])));
  }
  INFO(name << ": " << expected.dim(0) << " tokens x " << h << ", max |diff| " << worst
            << " of max |value| " << scale);
  CHECK(worst / scale <= 1e-5);
}

}  // namespace

TEST_CASE("text families: RoBERTa (all-distilroberta-v1 shapes) equals the reference") {
  check_hidden_states("distilroberta");
  check_embeddings("distilroberta", 24, 2);
  check_embeddings("distilroberta", 5, 1);
}

TEST_CASE("text families: XLM-RoBERTa (F16 weights under roberta.) equals the reference") {
  check_hidden_states("xlmr");
  check_embeddings("xlmr", 24, 2);
  check_embeddings("xlmr", 3, 2);
}

TEST_CASE("text families: MPNet (all-mpnet-base-v2 shapes) equals the reference") {
  check_hidden_states("mpnet");
  check_embeddings("mpnet", 24, 2);
  check_embeddings("mpnet", 7, 1);
}

TEST_CASE("text families: DistilBERT (msmarco-distilbert-base-v4 shapes) equals the reference") {
  check_hidden_states("distilbert");
  check_embeddings("distilbert", 24, 2);
  check_embeddings("distilbert", 2, 1);
}

TEST_CASE("text families: BERT with a Dense module (LaBSE layout) equals the reference") {
  auto model = SentenceTransformer::load(case_dir("bert-dense"));
  CHECK(model->dim() == 48);
  CHECK_THAT(model->describe(), Catch::Contains("dense 64->48 Tanh"));
  check_embeddings("bert-dense", 24, 2);
}

TEST_CASE("text families: weighted-mean and last-token pooling equal the reference") {
  // Both modes switched on: concatenated in sentence-transformers' order.
  auto model = SentenceTransformer::load(case_dir("bert-lasttoken"));
  CHECK(model->pooling() == std::vector<std::string>{"weightedmean", "lasttoken"});
  CHECK(model->dim() == 128);
  check_embeddings("bert-lasttoken", 24, 2);
  check_embeddings("bert-lasttoken", 1, 1);
}

TEST_CASE("text families: prompts from config_sentence_transformers.json") {
  const std::string dir = case_dir("bert-lasttoken");
  auto plain = SentenceTransformer::load(dir);
  CHECK(plain->prompt().empty());  // default_prompt_name is null
  REQUIRE(plain->prompts().size() == 2);

  SentenceTransformerOptions by_name;
  by_name.prompt_name = "query";
  auto query = SentenceTransformer::load(dir, by_name);
  CHECK(query->prompt() == "query: ");
  // sentence-transformers prepends, then strips the whole text.
  CHECK(query->tokenize("how tall is the tower ") ==
        plain->tokenize("query: how tall is the tower"));
  CHECK(query->tokenize("x") != plain->tokenize("x"));

  SentenceTransformerOptions literal;
  literal.prompt = "passage: ";
  CHECK(SentenceTransformer::load(dir, literal)->tokenize("a") == plain->tokenize("passage: a"));

  SentenceTransformerOptions unknown;
  unknown.prompt_name = "document";
  CHECK_THROWS_WITH(SentenceTransformer::load(dir, unknown),
                    Catch::Contains("no prompt named \"document\"") && Catch::Contains("passage") &&
                        Catch::Contains("query"));
  SentenceTransformerOptions both = by_name;
  both.prompt = "x";
  CHECK_THROWS_WITH(SentenceTransformer::load(dir, both), Catch::Contains("not both"));

  // A folder whose file names a default prompt uses it unless told otherwise.
  embedflow::test::TempDir copy("prompt-default");
  fs::copy(dir, copy.path(), fs::copy_options::recursive);
  Json cfg =
      Json::parse(embedflow::test::read_file(copy.file("config_sentence_transformers.json")));
  cfg["default_prompt_name"] = "query";
  embedflow::test::write_file(copy.file("config_sentence_transformers.json"), cfg.dump());
  CHECK(SentenceTransformer::load(copy.path())->prompt() == "query: ");
}

TEST_CASE("text families: a relative-position bucket table as transformers computes it") {
  // relative_position_bucket(key − query, 32, 128): keys at or before the query take buckets
  // 0..15, keys after it 16 + the same; exact below 8, then 8 + trunc(log(n/8)/log(16)·8),
  // capped at 15 (hand-computed from the formula; 16, 32, 64 are exact powers).
  using embedflow::models::transformer::relative_position_bucket;
  const std::pair<int64_t, int64_t> before[] = {{0, 0},   {1, 1},   {7, 7},   {8, 8},    {11, 8},
                                                {12, 9},  {15, 9},  {16, 10}, {22, 10},  {23, 11},
                                                {31, 11}, {32, 12}, {45, 12}, {46, 13},  {63, 13},
                                                {64, 14}, {90, 14}, {91, 15}, {128, 15}, {600, 15}};
  for (const auto& [n, bucket] : before) {
    INFO("distance " << n);
    CHECK(relative_position_bucket(-n, 32, 128) == bucket);
    if (n > 0) CHECK(relative_position_bucket(n, 32, 128) == 16 + bucket);
  }
}
