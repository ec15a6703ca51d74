// encode.text and score.cosine built directly from their schemas (and once through the CLI with
// configs/text_similarity.yaml).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "embedflow/config.h"
#include "embedflow/npy.h"
#include "stages/score/cosine.h"
#include "stages/text/encode_text.h"
#include "stages/text/tokenize.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using embedflow::test::binary_path;
using embedflow::test::source_path;

namespace {

std::vector<std::string> fixture_sentences(size_t n) {
  std::ifstream f(source_path("tests/fixtures/text/tokenizer_cases.jsonl"));
  std::vector<std::string> out;
  std::string line;
  std::getline(f, line);
  while (out.size() < n && std::getline(f, line))
    out.push_back(Json::parse(line)["text"].get<std::string>());
  return out;
}

Item text_item(const std::string& id, const std::string& text) {
  Item it;
  it.id = id;
  it.kind = Kind::Text;
  it.text = text;
  return it;
}

Item embedding_item(const std::string& id, std::vector<float> v) {
  Item it;
  it.id = id;
  it.kind = Kind::Embedding;
  const auto n = static_cast<int64_t>(v.size());
  it.tensor = Tensor::from_vector(v, {n});
  return it;
}

std::vector<Item> run_batch(EncodeText& st, const std::vector<Item>& items) {
  std::vector<const Item*> in;
  std::vector<Item> out;
  for (const auto& it : items) {
    in.push_back(&it);
    out.push_back(it.derive());
  }
  st.process_batch(in, out);
  return out;
}

std::vector<Item> drain(ScoreCosine& st) {
  std::vector<Item> out;
  Item it;
  while (st.next(it)) out.push_back(it);
  return out;
}

}  // namespace

TEST_CASE("encode.text: schema leaves batch_size and threads to the engine") {
  StageSchema s = encode_text_schema();
  CHECK(s.kind == StageKind::Batch);
  CHECK(s.uses_model_threads);
  CHECK(s.default_concurrency == 1);
  CHECK(s.find_param("batch_size") == nullptr);
  CHECK(s.find_param("threads") == nullptr);
  for (const auto& p : s.params) {
    INFO(p.name);
    CHECK_FALSE(p.doc.empty());
  }
}

TEST_CASE("encode.text: embeddings equal the reference, a bad item fails alone") {
  auto p = resolve_params(encode_text_schema(), "embed",
                          {{"model", source_path("tests/fixtures/text/tiny-bert")}});
  EncodeText st(p);
  StageContext ctx;
  ctx.stage_id = "embed";
  ctx.threads = 2;
  st.open(ctx);
  auto sentences = fixture_sentences(20);
  std::vector<Item> items;
  for (size_t i = 0; i < sentences.size(); ++i)
    items.push_back(text_item("s" + std::to_string(i), sentences[i]));
  items.insert(items.begin() + 5, text_item("bad", "broken \xc3\x28 text"));
  auto out = run_batch(st, items);
  Tensor expected = read_npy(source_path("tests/fixtures/text/tiny_expected_cls.npy"));
  size_t row = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    INFO("item " << items[i].id);
    if (items[i].id == "bad") {
      REQUIRE(out[i].failed());
      CHECK(out[i].error->stage == "embed");
      CHECK_THAT(out[i].error->message, Catch::Contains("invalid UTF-8"));
      continue;
    }
    REQUIRE_FALSE(out[i].failed());
    REQUIRE(out[i].kind == Kind::Embedding);
    REQUIRE(out[i].tensor.shape() == std::vector<int64_t>{32});
    for (int c = 0; c < 32; ++c)
      CHECK(std::abs(out[i].tensor.data<float>()[c] - expected.data<float>()[row * 32 + c]) <=
            1e-5);
    ++row;
  }
}

TEST_CASE("encode.text: params override pooling and normalisation") {
  auto p = resolve_params(encode_text_schema(), "embed",
                          {{"model", source_path("tests/fixtures/text/tiny-bert")},
                           {"pooling", "mean"},
                           {"normalize", "true"}});
  EncodeText st(p);
  st.open(StageContext{});
  auto sentences = fixture_sentences(3);
  auto out = run_batch(st, {text_item("a", sentences[0]), text_item("b", sentences[1])});
  Tensor mean = read_npy(source_path("tests/fixtures/text/tiny_expected_mean.npy"));
  for (int r = 0; r < 2; ++r) {
    double norm = 0;
    for (int c = 0; c < 32; ++c) norm += std::pow(mean.data<float>()[r * 32 + c], 2);
    norm = std::sqrt(norm);
    for (int c = 0; c < 32; ++c)
      CHECK(out[r].tensor.data<float>()[c] ==
            Approx(mean.data<float>()[r * 32 + c] / norm).margin(1e-5));
  }
}

TEST_CASE("encode.text: a model that cannot load is a config error at the model key") {
  auto p = resolve_params(encode_text_schema(), "embed", {{"model", "/nonexistent/minilm"}});
  EncodeText st(p);
  CHECK_THROWS_AS(st.open(StageContext{}), ConfigError);
  CHECK_THROWS_WITH(st.open(StageContext{}), Catch::Contains("/nonexistent/minilm"));
}

TEST_CASE("score.cosine: all-vs-all matrix rows") {
  ScoreCosine st(resolve_params(score_cosine_schema(), "sim", Json::object()));
  st.open(StageContext{});
  st.consume(0, embedding_item("a", {1, 0}));
  st.consume(0, embedding_item("b", {1, 1}));
  st.consume(0, embedding_item("c", {0, -3}));
  st.input_done(0);
  auto rows = drain(st);
  REQUIRE(rows.size() == 3);
  const float r2 = 1.0f / std::sqrt(2.0f);
  const std::vector<std::vector<float>> expected = {{1, r2, 0}, {r2, 1, -r2}, {0, -r2, 1}};
  for (size_t i = 0; i < 3; ++i) {
    CHECK(rows[i].id == std::string(1, static_cast<char>('a' + i)));
    CHECK(rows[i].kind == Kind::Embedding);
    CHECK(rows[i].meta["query_index"] == i);
    REQUIRE(rows[i].tensor.shape() == std::vector<int64_t>{3});
    for (size_t j = 0; j < 3; ++j)
      CHECK(rows[i].tensor.data<float>()[j] == Approx(expected[i][j]).margin(1e-6));
  }
}

TEST_CASE("score.cosine: queries against a corpus, top-k records (CLIP-width embeddings)") {
  ScoreCosine st(resolve_params(score_cosine_schema(), "sim",
                                {{"output", "top_k"}, {"k", 2}, {"block_rows", 2}}));
  st.open(StageContext{});
  // 512-d like CLIP ViT-B/32: image queries, text corpus. Corpus j points along axis j.
  auto axis = [](int j, float w) {
    std::vector<float> v(512, 0.0f);
    v[static_cast<size_t>(j)] = w;
    return v;
  };
  for (int j = 0; j < 5; ++j) st.consume(1, embedding_item("text" + std::to_string(j), axis(j, 2)));
  std::vector<float> q = axis(3, 1.0f);
  q[1] = 0.5f;  // nearest: text3, then text1
  st.consume(0, embedding_item("img0", q));
  st.input_done(0);
  st.input_done(1);
  CHECK(st.size_hint() == 2u);
  auto recs = drain(st);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].kind == Kind::Record);
  CHECK(recs[0].record["query_id"] == "img0");
  CHECK(recs[0].record["corpus_id"] == "text3");
  CHECK(recs[0].record["rank"] == 1);
  CHECK(recs[0].record["score"].get<double>() == Approx(1.0 / std::sqrt(1.25)));
  CHECK(recs[1].record["corpus_id"] == "text1");
  CHECK(recs[1].record["score"].get<double>() == Approx(0.5 / std::sqrt(1.25)));
}

TEST_CASE("score.cosine: exclude_self leaves the query out, and only the query") {
  auto top1 = [](Json params, bool corpus) {
    ScoreCosine st(resolve_params(score_cosine_schema(), "sim", params));
    st.open(StageContext{});
    // "dup" is a copy of "a" (a file found twice): it must stay a's nearest other item.
    st.consume(0, embedding_item("a", {1, 0}));
    st.consume(0, embedding_item("dup", {1, 0}));
    st.consume(0, embedding_item("b", {1, 2}));
    st.input_done(0);
    if (corpus) {
      st.consume(1, embedding_item("b", {1, 2}));
      st.consume(1, embedding_item("c", {1, 1.9f}));
      st.consume(1, embedding_item("a", {1, 0}));
      st.input_done(1);
    }
    std::vector<std::string> ids;
    const std::optional<uint64_t> hint = st.size_hint();
    for (const Item& it : drain(st))
      ids.push_back(it.record["query_id"].get<std::string>() + ">" +
                    it.record["corpus_id"].get<std::string>());
    if (hint) CHECK(*hint == ids.size());
    return ids;
  };
  const Json k1 = {{"output", "top_k"}, {"k", 1}};
  Json k1_excl = k1;
  k1_excl["exclude_self"] = true;
  // All-vs-all: without the option every item finds itself first (ties: earlier index).
  CHECK(top1(k1, false) == std::vector<std::string>{"a>a", "dup>a", "b>b"});
  CHECK(top1(k1_excl, false) == std::vector<std::string>{"a>dup", "dup>a", "b>a"});
  // With a corpus: items with the query's id are left out.
  CHECK(top1(k1, true) == std::vector<std::string>{"a>a", "dup>a", "b>b"});
  CHECK(top1(k1_excl, true) == std::vector<std::string>{"a>c", "dup>a", "b>c"});
  // k larger than what is left: all the others, in order.
  Json k5 = k1_excl;
  k5["k"] = 5;
  CHECK(top1(k5, false) ==
        std::vector<std::string>{"a>dup", "a>b", "dup>a", "dup>b", "b>a", "b>dup"});
}

TEST_CASE("score.cosine: mismatched widths are reported") {
  ScoreCosine st(resolve_params(score_cosine_schema(), "sim", Json::object()));
  st.consume(0, embedding_item("a", {1, 0, 0}));
  CHECK_THROWS_WITH(st.consume(0, embedding_item("b", {1, 0})),
                    Catch::Contains("width 2") && Catch::Contains("3"));
  st.consume(1, embedding_item("c", {1, 0}));
  Item it;
  CHECK_THROWS_WITH(st.next(it), Catch::Contains("3-d") && Catch::Contains("2-d"));
}

TEST_CASE("configs/text_similarity.yaml: [3, 384] embeddings and the printed 3x3 matrix") {
  embedflow::test::TempDir out("text-sim");
  auto r = embedflow::test::run_command("MODEL='" + binary_path("generated/text/minilm-random") +
                                        "' OUT='" + out.path() + "' '" + EMBEDFLOW_CLI + "' run '" +
                                        source_path("configs/text_similarity.yaml") + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  Tensor e = read_npy(out.file("embeddings.npy"));
  Tensor s = read_npy(out.file("similarity.npy"));
  REQUIRE(e.shape() == std::vector<int64_t>{3, 384});
  REQUIRE(s.shape() == std::vector<int64_t>{3, 3});
  // The matrix is the cosine of the saved embeddings (computed here, in double).
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double dot = 0, ni = 0, nj = 0;
      for (int c = 0; c < 384; ++c) {
        const double a = e.data<float>()[i * 384 + c], b = e.data<float>()[j * 384 + c];
        dot += a * b;
        ni += a * a;
        nj += b * b;
      }
      CHECK(s.data<float>()[i * 3 + j] == Approx(dot / std::sqrt(ni * nj)).margin(1e-5));
    }
  // The printed matrix (labelled: pictures_test checks the layout), its diagonal in it, and each
  // row named by its sentence (source.text's ids are only the rows' positions) after its number.
  CHECK_THAT(r.output, Catch::Contains("tensor([[") && Catch::Contains("1.0000"));
  CHECK_THAT(r.output, Catch::Contains("0  The dog sits outside waiting for a treat.") &&
                           Catch::Contains("2  The dog is swimming."));
}

TEST_CASE("text.tokenize: ids and tokens and offsets of a published tokenizer") {
  const std::string model = source_path("data/tokenizers/all-MiniLM-L6-v2");
  TextTokenize st(resolve_params(text_tokenize_schema(), "tok", {{"model", model}}));
  StageContext ctx;
  ctx.stage_id = "tok";
  st.open(ctx);
  Item out = text_item("a", "").derive();
  // [MASK] written in the text is the special token (id 103), as Hugging Face matches it.
  st.process(text_item("a", "The capital of France is [MASK]."), out);
  REQUIRE(out.kind == Kind::Record);
  CHECK(out.record["ids"] == Json::array({101, 1996, 3007, 1997, 2605, 2003, 103, 1012, 102}));
  CHECK(out.record["tokens"] ==
        Json::array({"[CLS]", "the", "capital", "of", "france", "is", "[MASK]", ".", "[SEP]"}));
  CHECK(out.record["offsets"][1] == Json::array({0, 3}));    // "The"
  CHECK(out.record["offsets"][6] == Json::array({25, 31}));  // "[MASK]"
  CHECK(out.record["special"][0] == 1);
  CHECK(out.record["count"] == 9);
  CHECK(out.record["truncated"] == false);
  // Invalid UTF-8 fails that item only.
  Item bad = text_item("b", "").derive();
  CHECK_THROWS_AS(st.process(text_item("b", std::string("caf\xC3", 4)), bad), ItemFailure);

  // max_length counts the special tokens, as HF's truncation does.
  TextTokenize cut(resolve_params(text_tokenize_schema(), "cut",
                                  {{"model", model}, {"max_length", 4}, {"tokens", false}}));
  cut.open(ctx);
  Item short_out = text_item("c", "").derive();
  cut.process(text_item("c", "one two three four five"), short_out);
  CHECK(short_out.record["ids"] == Json::array({101, 2028, 2048, 102}));
  CHECK(short_out.record["truncated"] == true);
  CHECK_FALSE(short_out.record.contains("tokens"));
}

TEST_CASE("text.tokenize: a folder without a tokenizer is a config error at the model key") {
  embedflow::test::TempDir dir("notok");
  TextTokenize st(resolve_params(text_tokenize_schema(), "tok", {{"model", dir.path()}}));
  StageContext ctx;
  ctx.stage_id = "tok";
  CHECK_THROWS_WITH(st.open(ctx), Catch::Contains("model") && Catch::Contains("no tokenizer"));
}

TEST_CASE("cli: embedflow tokenize prints ids and tokens from arguments or standard input") {
  const std::string model = source_path("data/tokenizers/all-MiniLM-L6-v2");
  auto r = embedflow::test::run_cli("tokenize " + model + " 'Hello [MASK]!'");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("5 tokens"));
  CHECK_THAT(r.output, Catch::Contains("103\t\"[MASK]\"\t[6, 12)"));
  r = embedflow::test::run_command("printf 'a b\\nc\\377\\nd\\n' | " +
                                   binary_path("apps/embedflow") + " tokenize --json " + model +
                                   " 2>&1");
  // The invalid line is an error of its own; the others are printed; the exit code says so.
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("error: text 2: invalid UTF-8"));
  CHECK_THAT(r.output, Catch::Contains("\"ids\":[101,1037,1038,102]"));
  CHECK_THAT(r.output, Catch::Contains("\"ids\":[101,1040,102]"));
}
