// Sentence-embedding parity: embedflow's SentenceTransformer against the independent float64
// (tests/fixtures/text/bert_reference.py: torch.nn.TransformerEncoderLayer + sentence-
// transformers pooling) on the fixture sentences, for the committed tiny model and the
// all-MiniLM-L6-v2-shaped random model generated at test time; plus loading errors.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "embedflow/cpu.h"
#include "embedflow/npy.h"
#include "models/safetensors.h"
#include "models/sentence_transformer.h"
#include "models/similarity.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using embedflow::Tensor;
using embedflow::models::SentenceTransformer;
using embedflow::models::SentenceTransformerOptions;
using embedflow::test::binary_path;
using embedflow::test::source_path;
using Json = nlohmann::json;

namespace {

std::vector<std::string> fixture_sentences() {
  std::ifstream f(source_path("tests/fixtures/text/tokenizer_cases.jsonl"));
  REQUIRE(f);
  std::vector<std::string> out;
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) out.push_back(Json::parse(line)["text"].get<std::string>());
  return out;
}

const std::string kTiny = "tests/fixtures/text/tiny-bert";
std::string minilm_dir() {
  return binary_path("generated/text/minilm-random");
}
std::string minilm_expected(const std::string& f) {
  return binary_path("generated/text/minilm-expected/" + f);
}

// Largest |a - b| over the first `rows` rows (all when rows < 0).
double max_abs_diff(const Tensor& a, const Tensor& b, int64_t rows = -1) {
  REQUIRE(a.ndim() == 2);
  REQUIRE(b.ndim() == 2);
  REQUIRE(a.dim(1) == b.dim(1));
  if (rows < 0) {
    REQUIRE(a.dim(0) == b.dim(0));
    rows = a.dim(0);
  }
  REQUIRE(a.dim(0) >= rows);
  REQUIRE(b.dim(0) >= rows);
  double m = 0;
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  for (int64_t i = 0; i < rows * a.dim(1); ++i)
    m = std::max(m, std::abs(static_cast<double>(pa[i]) - pb[i]));
  return m;
}

void copy_folder(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

}  // namespace

TEST_CASE("text encoder: tiny model, CLS pooling, equals the reference") {
  auto sentences = fixture_sentences();
  REQUIRE(sentences.size() >= 300);
  auto enc = SentenceTransformer::load(source_path(kTiny));
  CHECK(enc->pooling() == std::vector<std::string>{"cls"});
  CHECK_FALSE(enc->normalizes());
  CHECK(enc->max_seq_length() == 40);
  CHECK(enc->warnings().empty());  // a complete sentence-transformers folder
  Tensor got = enc->encode(sentences);
  Tensor expected = embedflow::read_npy(source_path("tests/fixtures/text/tiny_expected_cls.npy"));
  REQUIRE(got.shape() == expected.shape());
  CHECK(max_abs_diff(got, expected) <= 1e-5);
}

TEST_CASE("text encoder: tiny model, pooling overrides equal the reference") {
  auto sentences = fixture_sentences();
  for (const char* mode : {"max", "mean", "mean_sqrt_len"}) {
    SentenceTransformerOptions o;
    o.pooling = {mode};
    o.batch_size = 7;
    auto enc = SentenceTransformer::load(source_path(kTiny), o);
    Tensor got = enc->encode(sentences);
    Tensor expected = embedflow::read_npy(
        source_path(std::string("tests/fixtures/text/tiny_expected_") + mode + ".npy"));
    INFO("pooling " << mode);
    CHECK(max_abs_diff(got, expected, expected.dim(0)) <= 1e-5);
  }
  // Several modes concatenate in sentence-transformers' order (cls, max, mean, mean_sqrt_len).
  SentenceTransformerOptions o;
  o.pooling = {"mean", "cls"};
  auto enc = SentenceTransformer::load(source_path(kTiny), o);
  CHECK(enc->dim() == 64);
  Tensor both = enc->encode({sentences[0]});
  Tensor cls = embedflow::read_npy(source_path("tests/fixtures/text/tiny_expected_cls.npy"));
  Tensor mean = embedflow::read_npy(source_path("tests/fixtures/text/tiny_expected_mean.npy"));
  for (int i = 0; i < 32; ++i) {
    CHECK(std::abs(both.data<float>()[i] - cls.data<float>()[i]) <= 1e-5);
    CHECK(std::abs(both.data<float>()[32 + i] - mean.data<float>()[i]) <= 1e-5);
  }
}

TEST_CASE("text encoder: all-MiniLM-L6-v2 shapes, real vocab, equals the reference") {
  auto sentences = fixture_sentences();
  auto enc = SentenceTransformer::load(minilm_dir());
  CHECK(enc->dim() == 384);
  CHECK(enc->max_seq_length() == 256);
  CHECK(enc->normalizes());
  CHECK(enc->pooling() == std::vector<std::string>{"mean"});
  Tensor got = enc->encode(sentences);
  Tensor expected = embedflow::read_npy(minilm_expected("embeddings.npy"));
  REQUIRE(got.shape() == std::vector<int64_t>{static_cast<int64_t>(sentences.size()), 384});
  CHECK(max_abs_diff(got, expected) <= 1e-5);

  Tensor cos = embedflow::cosine(got, got);
  Tensor expected_cos = embedflow::read_npy(minilm_expected("cosine.npy"));
  CHECK(max_abs_diff(cos, expected_cos) <= 1e-5);

  // Batching never changes the numbers beyond float rounding (and one sequence per batch takes
  // attention's per-(sequence, head) path, a full batch its per-sequence one).
  SentenceTransformerOptions o;
  o.batch_size = 1;
  Tensor one_by_one =
      SentenceTransformer::load(minilm_dir(), o)
          ->encode(std::vector<std::string>(sentences.begin(), sentences.begin() + 40));
  CHECK(max_abs_diff(one_by_one, expected, 40) <= 1e-5);
}

TEST_CASE("text encoder: empty and whitespace-only texts are [CLS] [SEP]") {
  auto enc = SentenceTransformer::load(source_path(kTiny));
  // The tiny vocabulary: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3.
  CHECK(enc->tokenize("") == std::vector<int32_t>{2, 3});
  CHECK(enc->tokenize(" \t\n\u3000") == std::vector<int32_t>{2, 3});
  Tensor e = enc->encode({"", "   "});
  for (int i = 0; i < 32; ++i) CHECK(e.data<float>()[i] == e.data<float>()[32 + i]);
}

TEST_CASE("text encoder: invalid UTF-8 names the text") {
  auto enc = SentenceTransformer::load(source_path(kTiny));
  CHECK_THROWS_WITH(enc->encode({"fine", "bad \xff byte"}),
                    Catch::Contains("text 1") && Catch::Contains("invalid UTF-8 at byte 4"));
  CHECK_THROWS_AS(enc->tokenize("\xe2\x82"), std::invalid_argument);
}

TEST_CASE("text encoder: a 1 MB line is truncated, not a problem") {
  auto enc = SentenceTransformer::load(source_path(kTiny));
  std::string line;
  while (line.size() < (1u << 20)) line += "the model is running quickly, ";
  auto t0 = std::chrono::steady_clock::now();
  Tensor e = enc->encode({line, line.substr(0, 2000)});
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(enc->tokenize(line).size() == 40);
  // Both truncate to the same 40 tokens, so the embeddings agree.
  for (int i = 0; i < 32; ++i) CHECK(e.data<float>()[i] == Approx(e.data<float>()[32 + i]));
  CHECK(s < 5.0);
}

TEST_CASE("text encoder: a wrong-shaped tensor is reported by name and shape") {
  embedflow::test::TempDir dir("bad-shape");
  copy_folder(source_path(kTiny), dir.path());
  // Rewrite the safetensors header so one tensor claims a transposed shape (same byte count).
  std::string file = dir.file("model.safetensors");
  std::string bytes = embedflow::test::read_file(file);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  Json header = Json::parse(bytes.substr(8, n));
  const std::string key = "bert.encoder.layer.1.intermediate.dense.weight";
  REQUIRE(header[key]["shape"] == Json::array({64, 32}));
  header[key]["shape"] = {32, 64};
  std::string h = header.dump();
  h.resize(n, ' ');  // same length as before: pad with spaces
  REQUIRE(h.size() == n);
  embedflow::test::write_file(file, bytes.substr(0, 8) + h + bytes.substr(8 + n));
  CHECK_THROWS_WITH(SentenceTransformer::load(dir.path()),
                    Catch::Contains("model.safetensors") &&
                        Catch::Contains("encoder.layer.1.intermediate.dense.weight") &&
                        Catch::Contains("[64, 32]") && Catch::Contains("[32, 64]"));
}

TEST_CASE("text encoder: unsupported models and missing files are clear errors") {
  embedflow::test::TempDir dir("bad-model");
  copy_folder(source_path(kTiny), dir.path());
  SECTION("no tokenizer") {
    fs::remove(dir.file("vocab.txt"));
    CHECK_THROWS_WITH(SentenceTransformer::load(dir.path()),
                      Catch::Contains("tokenizer.json") && Catch::Contains("vocab.txt"));
  }
  SECTION("an unsupported architecture names itself and what is supported") {
    Json cfg = Json::parse(embedflow::test::read_file(dir.file("config.json")));
    cfg["model_type"] = "gpt2";
    cfg["architectures"] = {"GPT2Model"};
    embedflow::test::write_file(dir.file("config.json"), cfg.dump());
    CHECK_THROWS_WITH(SentenceTransformer::load(dir.path()),
                      Catch::Contains("config.json") && Catch::Contains("\"gpt2\"") &&
                          Catch::Contains("\"mpnet\" (MPNet)") &&
                          Catch::Contains("\"xlm-roberta\""));
  }
  SECTION("another family's weights under a BERT config are listed, not guessed") {
    Json cfg = Json::parse(embedflow::test::read_file(dir.file("config.json")));
    cfg["model_type"] = "distilbert";
    cfg["dim"] = 32;
    cfg["n_layers"] = 2;
    cfg["n_heads"] = 4;
    cfg["hidden_dim"] = 64;
    embedflow::test::write_file(dir.file("config.json"), cfg.dump());
    CHECK_THROWS_WITH(SentenceTransformer::load(dir.path()),
                      Catch::Contains("missing") &&
                          Catch::Contains("transformer.layer.0.attention.q_lin.weight") &&
                          Catch::Contains("unexpected") &&
                          Catch::Contains("encoder.layer.0.attention.self.query.weight"));
  }
  SECTION("an unsupported module, or one out of place") {
    Json modules = Json::parse(embedflow::test::read_file(dir.file("modules.json")));
    modules.push_back({{"idx", 2},
                       {"name", "2"},
                       {"path", "2_LayerNorm"},
                       {"type", "sentence_transformers.models.LayerNorm"}});
    embedflow::test::write_file(dir.file("modules.json"), modules.dump());
    CHECK_THROWS_WITH(SentenceTransformer::load(dir.path()),
                      Catch::Contains("LayerNorm") && Catch::Contains("not supported"));
    modules.erase(modules.size() - 1);
    modules.insert(modules.begin() + 1, Json{{"idx", 1},
                                             {"name", "1"},
                                             {"path", "1_Dense"},
                                             {"type", "sentence_transformers.models.Dense"}});
    embedflow::test::write_file(dir.file("modules.json"), modules.dump());
    CHECK_THROWS_WITH(SentenceTransformer::load(dir.path()),
                      Catch::Contains("Dense") && Catch::Contains("in that order"));
  }
  SECTION("config.json sizes are checked before they size anything") {
    // A million layers, or a hidden size the weights do not have, once allocated zero
    // stand-ins until memory ran out and ended in a bare std::bad_alloc.
    Json cfg = Json::parse(embedflow::test::read_file(dir.file("config.json")));
    cfg["num_hidden_layers"] = 1000000;
    embedflow::test::write_file(dir.file("config.json"), cfg.dump());
    CHECK_THROWS_WITH(SentenceTransformer::load(dir.path()),
                      Catch::Contains("config.json") && Catch::Contains("num_hidden_layers") &&
                          Catch::Contains("from 1 to 1024"));
    cfg["num_hidden_layers"] = 1000;  // allowed, but the weights hold 2 layers
    cfg["hidden_size"] = 65536;
    cfg["num_attention_heads"] = 1;
    embedflow::test::write_file(dir.file("config.json"), cfg.dump());
    CHECK_THROWS_WITH(SentenceTransformer::load(dir.path()),
                      Catch::Contains("model.safetensors") &&
                          Catch::Contains("do not match the sizes config.json gives"));
  }
  SECTION("max_seq_length beyond the position table") {
    SentenceTransformerOptions o;
    o.max_seq_length = 65;
    CHECK_THROWS_WITH(SentenceTransformer::load(dir.path(), o),
                      Catch::Contains("max_seq_length 65") && Catch::Contains("64 tokens"));
  }
  SECTION("a bare BertModel folder works, with mean pooling") {
    fs::remove(dir.file("modules.json"));
    fs::remove_all(dir.file("1_Pooling"));
    auto enc = SentenceTransformer::load(dir.path());
    CHECK(enc->pooling() == std::vector<std::string>{"mean"});
    // Said, not silent: a published Normalize module would have been dropped.
    REQUIRE(enc->warnings().size() == 1);
    CHECK_THAT(enc->warnings()[0],
               Catch::Contains("no modules.json") && Catch::Contains("no normalisation"));
    Tensor got = enc->encode(fixture_sentences());
    // No sentence_bert_config.json either? It is still there: max_seq_length 40 as before.
    Tensor expected =
        embedflow::read_npy(source_path("tests/fixtures/text/tiny_expected_mean.npy"));
    CHECK(max_abs_diff(got, expected, expected.dim(0)) <= 1e-5);
  }
}

TEST_CASE("cosine and top-k agree with a direct computation") {
  // Small hand-checkable vectors: cos([1,0],[1,1]) = 1/sqrt(2).
  Tensor a = Tensor::from_vector<float>({1, 0, 0, 2, 3, 4}, {3, 2});
  Tensor b = Tensor::from_vector<float>({1, 1, -1, 0}, {2, 2});
  Tensor c = embedflow::cosine(a, b);
  REQUIRE(c.shape() == std::vector<int64_t>{3, 2});
  const float* p = c.data<float>();
  CHECK(p[0] == Approx(0.70710678f));
  CHECK(p[1] == Approx(-1.0f));
  CHECK(p[2] == Approx(0.70710678f));
  CHECK(p[3] == Approx(0.0f).margin(1e-7));
  CHECK(p[4] == Approx(7.0f / (5.0f * std::sqrt(2.0f))));
  CHECK(p[5] == Approx(-0.6f));
  CHECK(embedflow::format_like_torch(c).rfind("tensor([[0.7071, -1.0000],\n        [", 0) == 0);
  CHECK_THROWS_WITH(embedflow::cosine(a, Tensor::from_vector<float>({1, 2, 3}, {1, 3})),
                    Catch::Contains("widths differ"));

  // Blocked top-k over a corpus bigger than one block equals a sort of the full rows.
  std::vector<float> corpus_v, query_v;
  for (int i = 0; i < 1000 * 8; ++i) corpus_v.push_back(std::sin(0.37f * i) + 0.01f * (i % 13));
  for (int i = 0; i < 5 * 8; ++i) query_v.push_back(std::cos(0.11f * i));
  Tensor corpus = Tensor::from_vector(corpus_v, {1000, 8});
  Tensor queries = Tensor::from_vector(query_v, {5, 8});
  embedflow::CosineScorer scorer(corpus, /*block_rows=*/64);
  auto top = scorer.top_k(queries, 10);
  Tensor full = embedflow::cosine(queries, corpus);
  for (int q = 0; q < 5; ++q) {
    std::vector<std::pair<float, int64_t>> row;
    for (int64_t j = 0; j < 1000; ++j) row.push_back({-full.data<float>()[q * 1000 + j], j});
    std::sort(row.begin(), row.end());
    REQUIRE(top[q].size() == 10);
    for (int r = 0; r < 10; ++r) {
      CHECK(top[q][r].index == row[r].second);
      CHECK(top[q][r].score == Approx(-row[r].first));
    }
  }
}

TEST_CASE("text encoder: precision int8 stays close to the reference") {
  auto sentences = fixture_sentences();
  SentenceTransformerOptions o;
  o.precision = "int8";
  auto enc = SentenceTransformer::load(minilm_dir(), o);
  CHECK(enc->precision() == "int8");
  Tensor got = enc->encode(sentences);
  Tensor expected = embedflow::read_npy(minilm_expected("embeddings.npy"));
  REQUIRE(got.shape() == expected.shape());
  const auto [mean, worst] = embedflow::test::row_cosines(got, expected);
  INFO(enc->describe() << ": mean cosine " << mean << ", min " << worst);
  CHECK(mean >= 0.995);
  CHECK(worst >= 0.98);
  CHECK(max_abs_diff(got, expected) > 1e-6);  // it really ran quantised

  // One sentence per batch takes attention's per-(sequence, head) path, a full batch the
  // per-sequence one; integer GEMMs and row-wise float passes make them agree to the bit.
  const std::vector<std::string> some(sentences.begin(), sentences.begin() + 8);
  SentenceTransformerOptions one = o;
  one.batch_size = 1;
  Tensor alone = SentenceTransformer::load(minilm_dir(), one)->encode(some);
  Tensor batched = enc->encode(some);
  CHECK(max_abs_diff(alone, batched) == 0.0);
}

TEST_CASE("text encoder: precision bf16 stays close to the reference, native and emulated alike") {
  auto sentences = fixture_sentences();
  const Tensor expected = embedflow::read_npy(minilm_expected("embeddings.npy"));
  SentenceTransformerOptions o;
  o.precision = "bf16";
  // The level decides the path when the model loads: oneDNN's bf16 matmul from avx512bf16 up
  // (AVX512-BF16's vdpbf16ps, or AMX), the fp32 GEMM on bf16-rounded values below (the same
  // path twice on a CPU without bf16 instructions, or under EMBEDFLOW_CPU below avx512bf16).
  auto load_at = [&](embedflow::cpu::Level level) {
    const embedflow::cpu::ScopedLevelForTesting at(level);
    return SentenceTransformer::load(minilm_dir(), o);
  };
  const bool bf16_instructions =
      embedflow::cpu::active_level() >= embedflow::cpu::Level::Avx512Bf16;
  const auto native = load_at(embedflow::cpu::Level::Amx);
  const auto emulated = load_at(embedflow::cpu::Level::Avx512Vnni);
  CHECK(native->precision() == "bf16");
  INFO(native->describe());
  if (bf16_instructions)
    CHECK_THAT(native->describe(), Catch::Contains("bf16 (AMX matmul)") ||
                                       Catch::Contains("bf16 (AVX512-BF16 matmul)"));
  CHECK_THAT(emulated->describe(), Catch::Contains("bf16 (emulated"));
  const Tensor got = native->encode(sentences), got_emulated = emulated->encode(sentences);
  REQUIRE(got.shape() == expected.shape());
  const auto [mean, worst] = embedflow::test::row_cosines(got, expected);
  INFO(native->describe() << ": mean cosine " << mean << ", min " << worst);
  CHECK(mean >= 0.999);
  CHECK(worst >= 0.995);
  CHECK(max_abs_diff(got, expected) > 1e-6);  // it really ran in bf16
  // Both paths round the same weights and inputs; only the order of the float sums differs.
  CHECK(max_abs_diff(got, got_emulated) <= 2e-3);
}

// #16: an embedding must not depend on its batch mates, its place in the batch or the thread
// count, so that shards merge into the single run's bytes and goldens hold. At every level (the
// one in effect, avx2 and, for fp32, the baseline) the encoder says which it is (describe), and
// what it says must hold.
TEST_CASE("text encoder: an embedding is the same bytes in any batch and at any thread count") {
  const auto all = fixture_sentences();
  REQUIRE(all.size() >= 24);
  const std::vector<std::string> sentences(all.begin(), all.begin() + 24);
  std::vector<embedflow::cpu::Level> levels{embedflow::cpu::active_level()};
  if (levels[0] > embedflow::cpu::Level::Avx2) levels.push_back(embedflow::cpu::Level::Avx2);
  levels.push_back(embedflow::cpu::Level::Baseline);
  for (const auto level : levels)
    for (const std::string precision : {"fp32", "int8", "bf16"}) {
      if (level == embedflow::cpu::Level::Baseline && precision != "fp32") continue;
      const embedflow::cpu::ScopedLevelForTesting at(level);
      std::shared_ptr<const SentenceTransformer> by_threads[3];
      for (int threads : {1, 2}) {
        SentenceTransformerOptions o;
        o.precision = precision;
        o.threads = threads;
        o.batch_size = 64;  // every call below is one batch
        by_threads[threads] = SentenceTransformer::load(minilm_dir(), o);
      }
      const std::string described = by_threads[2]->describe();
      INFO("level " << embedflow::cpu::level_name(level) << ": " << described);
      const bool claims = described.find("; batch-invariant") != std::string::npos;
      // int8 sums integers; fp32 and bf16 run on oneDNN's packed matmul (AVX-512) or the
      // fixed-order GEMM (below): invariant everywhere with libdnnl-dev, which setup.sh installs.
      CHECK(claims);
      if (!claims) {
        CHECK_THAT(described, Catch::EndsWith("; last bits vary with the batch"));
        continue;
      }
      const std::string variant =
          embedflow::test::batch_variance(static_cast<int64_t>(sentences.size()),
                                          [&](const std::vector<int64_t>& items, int threads) {
                                            std::vector<std::string> texts;
                                            for (const int64_t i : items)
                                              texts.push_back(sentences[static_cast<size_t>(i)]);
                                            return by_threads[threads]->encode(texts);
                                          });
      CHECK(variant == "");
    }
}
