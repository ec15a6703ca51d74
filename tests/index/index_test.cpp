// write.index and search.index against independent expectations: numpy's exact cosine top-k
// (tests/fixtures/index/brute_force.py) for flat indexes built and searched by pipelines, an
// exact search written here in double precision for the recall of HNSW and IVF, and the
// failures a user must be able to act on (located, nothing left behind).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>

#include "embedflow/config.h"
#include "embedflow/cpu.h"
#include "embedflow/errors.h"
#include "embedflow/npy.h"
#include "models/similarity.h"
#include "stages/index/distance.h"
#include "stages/index/search_index.h"
#include "stages/index/vector_index.h"
#include "stages/index/write_index.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;
namespace fs = std::filesystem;

namespace {

// n × d normal values with each row scaled by a random factor (so normalisation matters).
Tensor random_rows(int64_t n, int64_t d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> scale(0.2f, 5.f);
  Tensor t(DType::F32, {n, d});
  for (int64_t r = 0; r < n; ++r) {
    const float s = scale(rng);
    for (int64_t c = 0; c < d; ++c) t.data<float>()[r * d + c] = s * normal(rng);
  }
  return t;
}

// A Gaussian mixture: `clusters` random unit centres, points at centre + noise, normalised.
std::vector<float> clustered(int64_t n, int64_t d, int clusters, float noise, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> centres(static_cast<size_t>(clusters * d));
  for (auto& v : centres) v = normal(rng);
  models::l2_normalize_rows(centres.data(), clusters, d);
  std::uniform_int_distribution<int> pick(0, clusters - 1);
  std::vector<float> x(static_cast<size_t>(n * d));
  for (int64_t r = 0; r < n; ++r) {
    const int c = pick(rng);
    for (int64_t j = 0; j < d; ++j) x[r * d + j] = centres[c * d + j] + noise * normal(rng);
  }
  models::l2_normalize_rows(x.data(), n, d);
  return x;
}

// The exact top k rows of `corpus` for each query by inner product, in double precision.
std::vector<std::vector<int64_t>> exact_top_k(const std::vector<float>& corpus,
                                              const std::vector<float>& queries, int64_t d,
                                              int64_t k) {
  const auto n = static_cast<int64_t>(corpus.size()) / d;
  const auto nq = static_cast<int64_t>(queries.size()) / d;
  std::vector<std::vector<int64_t>> out;
  std::vector<double> s(static_cast<size_t>(n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t q = 0; q < nq; ++q) {
    for (int64_t r = 0; r < n; ++r) {
      double acc = 0;
      for (int64_t j = 0; j < d; ++j) acc += double(queries[q * d + j]) * corpus[r * d + j];
      s[static_cast<size_t>(r)] = acc;
    }
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int64_t a, int64_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
    out.emplace_back(order.begin(), order.begin() + k);
  }
  return out;
}

double recall_at(const vindex::VectorIndex& index, const std::vector<float>& queries, int64_t d,
                 const std::vector<std::vector<int64_t>>& exact, int64_t k, int64_t ef_search = 0,
                 int64_t nprobe = 0) {
  const auto nq = static_cast<int64_t>(queries.size()) / d;
  std::vector<int64_t> rows;
  std::vector<float> scores;
  index.search_batch(queries.data(), nq, k, rows, scores, ef_search, nprobe);
  int64_t found = 0;
  for (int64_t q = 0; q < nq; ++q) {
    const std::set<int64_t> want(exact[q].begin(), exact[q].end());
    for (int64_t i = 0; i < k; ++i) found += want.count(rows[q * k + i]);
  }
  return double(found) / double(nq * k);
}

std::string cli() {
  return std::string("'") + EMBEDFLOW_CLI + "'";
}

// A pipeline reading rows from an .npy (ids from its sidecar) into write.index.
std::string build_yaml(const std::string& npy, const std::string& index,
                       const std::string& extra = "") {
  return "pipeline: build\nstages:\n  - id: rows\n    type: source.npy\n    params: { path: '" +
         npy + "', sidecar: false }\n  - id: index\n    type: write.index\n    params: { path: '" +
         index + "'" + extra + " }\n";
}

std::string search_yaml(const std::string& npy, const std::string& index, const std::string& out,
                        int k, const std::string& extra = "") {
  return "pipeline: search\nstages:\n  - id: queries\n    type: source.npy\n    params: { path: '" +
         npy +
         "', sidecar: false }\n  - id: search\n    type: search.index\n    params: { index: '" +
         index + "', k: " + std::to_string(k) + extra +
         " }\n  - id: hits\n    type: write.jsonl\n    params: { path: '" + out + "' }\n";
}

Item embedding(const std::string& id, std::vector<float> v) {
  Item it;
  it.id = id;
  it.source = "test";
  it.kind = Kind::Embedding;
  const auto d = static_cast<int64_t>(v.size());
  it.tensor = Tensor::from_vector(v, {d});
  return it;
}

StageContext ctx(const std::string& id) {
  StageContext c;
  c.stage_id = id;
  return c;
}

}  // namespace

TEST_CASE("flat index search equals numpy's exact cosine top-k in rows and scores", "[index]") {
  TempDir dir("index-flat");
  const int64_t n = 600, d = 24, nq = 25, k = 10;
  write_npy(dir.file("corpus.npy"), random_rows(n, d, 1));
  write_npy(dir.file("queries.npy"), random_rows(nq, d, 2));
  write_file(dir.file("build.yaml"), build_yaml(dir.file("corpus.npy"), dir.file("c.index")));
  CommandResult r = run_command(cli() + " run '" + dir.file("build.yaml") + "' --progress off");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // The sidecar maps every row to its item, in source order.
  const std::vector<Json> labels = read_jsonl(dir.file("c.jsonl"));
  REQUIRE(labels.size() == static_cast<size_t>(n));
  for (size_t i = 0; i < labels.size(); ++i) {
    CHECK(labels[i]["row"] == i);
    CHECK(labels[i]["id"] == "row-" + std::to_string(i));
  }
  write_file(dir.file("search.yaml"),
             search_yaml(dir.file("queries.npy"), dir.file("c.index"), dir.file("hits.jsonl"), k));
  r = run_command(cli() + " run '" + dir.file("search.yaml") + "' --progress off");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  r = run_command(std::string("'") + EMBEDFLOW_REFERENCE_PYTHON + "' '" +
                  source_path("tests/fixtures/index/brute_force.py") + "' '" +
                  dir.file("corpus.npy") + "' '" + dir.file("queries.npy") + "' " +
                  std::to_string(k) + " '" + dir.file("rows.npy") + "' '" + dir.file("scores.npy") +
                  "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const Tensor rows = load_npy(dir.file("rows.npy"));
  const Tensor scores = load_npy(dir.file("scores.npy"));
  const std::vector<Json> hits = read_jsonl(dir.file("hits.jsonl"));
  REQUIRE(hits.size() == static_cast<size_t>(nq));
  for (int64_t q = 0; q < nq; ++q) {
    const Json& rec = hits[q]["record"];
    CHECK(rec["query_id"] == "row-" + std::to_string(q));
    REQUIRE(rec["hits"].size() == static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i) {
      const Json& h = rec["hits"][i];
      INFO("query " << q << " rank " << i + 1);
      CHECK(h["rank"] == i + 1);
      CHECK(h["id"] == "row-" + std::to_string(rows.data<int64_t>()[q * k + i]));
      CHECK(h["score"].get<double>() == Approx(scores.data<float>()[q * k + i]).margin(2e-6));
    }
  }

  SECTION("exclude_self: searching the corpus with itself leaves each row out of its hits") {
    write_file(dir.file("self.yaml"),
               search_yaml(dir.file("corpus.npy"), dir.file("c.index"), dir.file("self.jsonl"), 3,
                           ", exclude_self: true"));
    r = run_command(cli() + " run '" + dir.file("self.yaml") + "' --progress off");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const std::vector<Json> self = read_jsonl(dir.file("self.jsonl"));
    REQUIRE(self.size() == static_cast<size_t>(n));
    for (const Json& line : self) {
      const Json& rec = line["record"];
      REQUIRE(rec["hits"].size() == 3);
      for (const Json& h : rec["hits"]) CHECK(h["id"] != rec["query_id"]);
    }
  }
}

TEST_CASE("HNSW and IVF reach recall@10 of 0.95 against exact search on clustered vectors",
          "[index]") {
  const int64_t n = 4000, d = 64, nq = 200, k = 10;
  std::vector<float> corpus = clustered(n, d, 40, 0.15f, 3);
  const std::vector<float> queries = clustered(nq, d, 40, 0.15f, 4);
  const std::vector<float> reference = corpus;  // build() normalises its copy in place
  const auto exact = exact_top_k(reference, queries, d, k);

  SECTION("hnsw") {
    vindex::BuildOptions o;
    o.kind = "hnsw";
    o.threads = 2;
    const auto index = vindex::VectorIndex::build(o, corpus, d);
    const double recall = recall_at(index, queries, d, exact, k);
    INFO("recall@10 " << recall);
    CHECK(recall >= 0.95);
    // ef_search is the index's and can be overridden: a narrow search finds less.
    CHECK(index.header().ef_search == 64);
    CHECK(recall_at(index, queries, d, exact, k, 10) < recall);
  }
  SECTION("ivf") {
    vindex::BuildOptions o;
    o.kind = "ivf";
    o.threads = 2;
    const auto index = vindex::VectorIndex::build(o, corpus, d);
    CHECK(index.header().nlist == vindex::auto_nlist(n));
    const double recall = recall_at(index, queries, d, exact, k);
    INFO("recall@10 " << recall << " with nlist " << index.header().nlist);
    CHECK(recall >= 0.95);
    CHECK(recall_at(index, queries, d, exact, k, 0, 1) < recall);
  }
  SECTION("flat is exact") {
    vindex::BuildOptions o;
    const auto index = vindex::VectorIndex::build(o, corpus, d);
    CHECK(recall_at(index, queries, d, exact, k) == 1.0);
  }
}

TEST_CASE("search refuses a labels file the index was not written with", "[index]") {
  // write.index commits the sidecar, then the index: a run stopped between the two, or a sidecar
  // copied from another build with as many rows, would label hits with other items.
  TempDir dir("index-labels");
  write_npy(dir.file("corpus.npy"), random_rows(40, 8, 11));
  write_npy(dir.file("queries.npy"), random_rows(3, 8, 12));
  write_file(dir.file("build.yaml"), build_yaml(dir.file("corpus.npy"), dir.file("c.index")));
  CommandResult r = run_command(cli() + " run '" + dir.file("build.yaml") + "' --progress off");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // The header names the sidecar's SHA-256, as sha256sum computes it.
  r = run_command("sha256sum '" + dir.file("c.jsonl") + "' | cut -c1-64");
  REQUIRE(r.exit_code == 0);
  const std::string want = r.output.substr(0, 64);
  std::ifstream in(dir.file("c.index"));
  std::string magic, header;
  std::getline(in, magic);
  std::getline(in, header);
  CHECK(Json::parse(header).at("labels_sha256") == want);

  write_file(dir.file("search.yaml"),
             search_yaml(dir.file("queries.npy"), dir.file("c.index"), dir.file("hits.jsonl"), 3));
  r = run_command(cli() + " run '" + dir.file("search.yaml") + "' --progress off");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  // The same rows, two ids swapped: a well-formed sidecar of the right length.
  std::vector<Json> labels = read_jsonl(dir.file("c.jsonl"));
  std::swap(labels[0]["id"], labels[1]["id"]);
  std::string text;
  for (const Json& l : labels) text += l.dump() + "\n";
  write_file(dir.file("c.jsonl"), text);
  r = run_command(cli() + " run '" + dir.file("search.yaml") + "' --progress off");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Catch::Contains("is not the labels file") &&
                           Catch::Contains("rebuild both with write.index"));
}

TEST_CASE("an index file holds what search needs and reads back", "[index]") {
  TempDir dir("index-file");
  const int64_t n = 2000, d = 16;
  std::vector<float> corpus = clustered(n, d, 10, 0.3f, 5);
  const std::vector<float> queries = clustered(50, d, 10, 0.3f, 6);
  vindex::BuildOptions o;
  o.kind = "ivf";
  o.nlist = 20;
  o.nprobe = 3;
  const auto built = vindex::VectorIndex::build(o, corpus, d);
  {
    AtomicFile f(dir.file("x.index"));
    built.save([&f](const void* p, size_t bytes) { f.write(p, bytes); }, "x.jsonl");
    f.commit();
  }
  const auto loaded = vindex::VectorIndex::load(dir.file("x.index"));
  CHECK(loaded.header().kind == "ivf");
  CHECK(loaded.header().dim == d);
  CHECK(loaded.header().count == n);
  CHECK(loaded.header().nlist == 20);
  CHECK(loaded.header().nprobe == 3);
  CHECK(loaded.header().normalize);
  CHECK(loaded.header().labels == "x.jsonl");
  std::vector<int64_t> a, b;
  std::vector<float> sa, sb;
  built.search_batch(queries.data(), 50, 5, a, sa);
  loaded.search_batch(queries.data(), 50, 5, b, sb);
  CHECK(a == b);
  CHECK(sa == sb);

  SECTION("a file that is not an index says so") {
    write_file(dir.file("bad.index"), "hello\n");
    CHECK_THROWS_WITH(vindex::VectorIndex::load(dir.file("bad.index")),
                      Catch::Contains("is not an embedflow index"));
    CHECK_THROWS_WITH(vindex::VectorIndex::load(dir.file("missing.index")),
                      Catch::Contains("missing.index") && Catch::Contains("write.index"));
  }
  SECTION("too few vectors for the lists asked for") {
    std::vector<float> few(static_cast<size_t>(10 * d), 1.f);
    o.nlist = 50;
    CHECK_THROWS_WITH(vindex::VectorIndex::build(o, few, d),
                      Catch::Contains("nlist 50") && Catch::Contains("got 10"));
  }
}

TEST_CASE("write.index fails the run and leaves no file on a width change or a NaN", "[index]") {
  TempDir dir("index-bad");
  const std::string path = dir.file("bad.index");
  auto stage = [&] {
    auto s = std::make_unique<WriteIndex>(
        resolve_params(write_index_schema(), "idx", Json{{"path", path}}));
    s->open(ctx("idx"));
    return s;
  };
  auto leftovers = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir.path())) names.push_back(e.path().filename());
    return names;
  };
  SECTION("a dimension change mid-stream") {
    auto s = stage();
    s->write(embedding("a", {1, 0, 0}));
    CHECK_THROWS_AS(s->write(embedding("b", {1, 0})), RunFailure);
    s->finish(false);  // what the engine does after a failed run
    CHECK(leftovers().empty());
    auto again = stage();
    again->write(embedding("a", {1, 0, 0}));
    CHECK_THROWS_WITH(again->write(embedding("b", {1, 0})),
                      Catch::Contains("'b'") && Catch::Contains("2-d") &&
                          Catch::Contains("'a', was 3-d") && Catch::Contains("no index"));
  }
  SECTION("a NaN") {
    auto s = stage();
    s->write(embedding("a", {1, 0, 0}));
    CHECK_THROWS_WITH(s->write(embedding("b", {1, NAN, 0})), Catch::Contains("'b'") &&
                                                                 Catch::Contains("NaN") &&
                                                                 Catch::Contains("position 1"));
    s->finish(false);
    CHECK(leftovers().empty());
  }
  SECTION("no embedding at all") {
    auto s = stage();
    CHECK_THROWS_WITH(s->finish(true), Catch::Contains("no embeddings arrived"));
    CHECK(leftovers().empty());
  }
  SECTION("a good stream commits the index and its labels") {
    auto s = stage();
    Item a = embedding("a", {1, 0, 0});
    a.text = "first";
    s->write(a);
    s->write(embedding("b", {0, 1, 0}));
    s->finish(true);
    CHECK(fs::exists(path));
    const std::vector<Json> labels = read_jsonl(dir.file("bad.jsonl"));
    REQUIRE(labels.size() == 2);
    CHECK(labels[0] == Json{{"row", 0}, {"id", "a"}, {"source", "test"}, {"text", "first"}});
    CHECK(labels[1] == Json{{"row", 1}, {"id", "b"}, {"source", "test"}});
    // search.index labels its hits with the text, or the source where there is none.
    auto search = std::make_unique<SearchIndex>(
        resolve_params(search_index_schema(), "q", Json{{"index", path}, {"k", 2}}));
    search->open(ctx("q"));
    Item out;
    search->process(embedding("q", {0.1f, 2, 0}), out);
    REQUIRE(out.record["hits"].size() == 2);
    CHECK(out.record["hits"][0]["id"] == "b");
    CHECK(out.record["hits"][0]["label"] == "test");
    CHECK(out.record["hits"][1]["label"] == "first");
    // cosine of (0.1, 2, 0) with (0, 1, 0) and (1, 0, 0), by hand
    const double norm = std::sqrt(0.01 + 4);
    CHECK(out.record["hits"][0]["score"].get<double>() == Approx(2 / norm).epsilon(1e-6));
    CHECK(out.record["hits"][1]["score"].get<double>() == Approx(0.1 / norm).epsilon(1e-5));
    CHECK_THROWS_WITH(search->process(embedding("q2", {1, 0}), out),
                      Catch::Contains("2-d") && Catch::Contains("3-d") && Catch::Contains(path));
  }
}

TEST_CASE("the index's inner products equal a double-precision sum at every CPU level",
          "[index][cpu]") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  for (const cpu::Level level : cpu::runnable_levels()) {
    const vindex::kernels::Table& k = vindex::kernels::table(level);
    INFO("level " << cpu::level_name(level) << ", build " << k.build);
    for (const int64_t d : {1, 7, 15, 16, 17, 31, 100, 384, 385}) {
      INFO("d " << d);
      const int64_t rows = 5;
      std::vector<float> q(static_cast<size_t>(d)), x(static_cast<size_t>(rows * d));
      for (auto& v : q) v = normal(rng);
      for (auto& v : x) v = normal(rng);
      std::vector<float> out(static_cast<size_t>(rows));
      k.inner_products(q.data(), x.data(), rows, d, out.data());
      for (int64_t r = 0; r < rows; ++r) {
        double want = 0, scale = 0;
        for (int64_t j = 0; j < d; ++j) {
          want += double(q[j]) * x[r * d + j];
          scale += std::abs(double(q[j]) * x[r * d + j]);
        }
        CHECK(std::abs(out[r] - want) <= 1e-6 * scale + 1e-7);
        CHECK(k.inner_product(q.data(), x.data() + r * d, d) == out[r]);
      }
    }
  }
}
