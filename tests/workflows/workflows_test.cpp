// The configs users start from, run as users run them (`embedflow run configs/<name>.yaml` with
// MODEL/AUDIO/OUT in the environment), against independent expectations:
// - audio_to_embedding(.yaml, _fbank.yaml): torchaudio + torch interpolate + torchvision resnet18
//   on the same samples and weights (tests/fixtures/workflows/audio_reference.py);
// - text_similarity.yaml with the committed small BERT: the float64 reference BERT
//   (tests/fixtures/text/make_models.py uncased).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::test;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kGenerated = binary_path("generated/workflows");
const std::string kResnet = source_path("tests/fixtures/generated/resnet18-random.safetensors");

// `embedflow run` from the source root, as the README shows, with the given environment.
CommandResult run_config(const std::string& config, const std::string& env,
                         const std::string& extra = "") {
  return run_command("cd '" + source_path("") + "' && env -u MODEL -u AUDIO -u OUT " + env + " '" +
                     EMBEDFLOW_CLI + "' run " + config + " --progress off " + extra);
}

std::vector<std::string> sidecar_ids(const std::string& npy) {
  std::vector<std::string> ids;
  for (const auto& j : read_jsonl(npy.substr(0, npy.size() - 4) + ".jsonl"))
    ids.push_back(j["id"].get<std::string>());
  return ids;
}

// Every row: cosine >= min_cos and max |Δ| <= rel · max |expected row|.
void require_rows_close(const Tensor& got, const Tensor& want, double min_cos, double rel) {
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.ndim() == 2);
  const int64_t n = got.dim(0), d = got.dim(1);
  for (int64_t r = 0; r < n; ++r) {
    const float* g = got.data<float>() + r * d;
    const float* w = want.data<float>() + r * d;
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < d; ++i) {
      worst = std::max(worst, std::abs(double(g[i]) - w[i]));
      scale = std::max(scale, std::abs(double(w[i])));
    }
    INFO("row " << r << ": max |delta| " << worst << ", max |expected| " << scale);
    CHECK(cosine(g, w, d) >= min_cos);
    CHECK(worst <= rel * scale);
  }
}

struct AudioCase {
  std::string config, frontend;
};
const AudioCase kAudioCases[] = {{"configs/audio_to_embedding.yaml", "mel"},
                                 {"configs/audio_to_embedding_fbank.yaml", "fbank"}};

}  // namespace

TEST_CASE("audio_to_embedding configs equal torchaudio + torchvision on the same samples",
          "[workflows][audio]") {
  for (const auto& c : kAudioCases) {
    SECTION(c.frontend) {
      TempDir out("a2e");
      // 4-second windows every 2 seconds: the 12-second recording becomes 6 overlapping
      // windows, the others one window each; all at 16 kHz already (no resampling).
      auto r = run_config(
          c.config,
          "MODEL='" + kResnet + "' AUDIO='" + kGenerated + "/clips16k' OUT='" + out.path() + "'",
          "--set segment.window=4 --set segment.hop=2");
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
      Json ref = Json::parse(read_file(kGenerated + "/" + c.frontend + "_clips16k.json"));

      // Windows: ids, parents and times as the documented rule gives them.
      auto seg_rows = read_jsonl(out.file("segments.jsonl"));
      REQUIRE(seg_rows.size() == ref["segments"].size());
      for (size_t i = 0; i < seg_rows.size(); ++i) {
        const Json& want = ref["segments"][i];
        CHECK(seg_rows[i]["id"] == want["id"]);
        CHECK(seg_rows[i]["meta"]["parent_id"] == want["parent_id"]);
        CHECK(seg_rows[i]["meta"]["start"].get<double>() ==
              Approx(want["start"].get<double>()).margin(1e-9));
        CHECK(seg_rows[i]["meta"]["end"].get<double>() ==
              Approx(want["end"].get<double>()).margin(1e-9));
      }
      CHECK(std::count_if(seg_rows.begin(), seg_rows.end(), [](const Json& j) {
              return j["meta"]["parent_id"] == "speech_12s.wav";
            }) == 6);
      require_rows_close(load_npy(out.file("segments.npy")),
                         load_npy(kGenerated + "/" + c.frontend + "_clips16k_segments.npy"),
                         0.99999, 1e-4);

      // One row per recording: the mean of its windows, under the recording's id.
      CHECK(sidecar_ids(out.file("embeddings.npy")) == ref["ids"].get<std::vector<std::string>>());
      for (const auto& row : read_jsonl(out.file("embeddings.jsonl"))) {
        const std::string id = row["id"];
        CHECK(row["meta"]["segments"] == (id == "speech_12s.wav" ? 6 : 1));
        CHECK_FALSE(row["meta"].contains("parent_id"));
      }
      require_rows_close(load_npy(out.file("embeddings.npy")),
                         load_npy(kGenerated + "/" + c.frontend + "_clips16k_pooled.npy"), 0.99999,
                         1e-4);
    }
  }
}

TEST_CASE("audio_to_embedding configs on the bundled recordings: defaults, resampling, top-k",
          "[workflows][audio]") {
  for (const auto& c : kAudioCases) {
    SECTION(c.frontend) {
      TempDir out("a2e-bundled");
      auto r = run_config(c.config, "MODEL='" + kResnet + "' OUT='" + out.path() + "'");
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
      Json ref = Json::parse(read_file(kGenerated + "/" + c.frontend + "_bundled.json"));
      CHECK(sidecar_ids(out.file("embeddings.npy")) == ref["ids"].get<std::vector<std::string>>());
      // 48 kHz, 44.1 kHz and 22.05 kHz files: libsoxr here, torchaudio's Kaiser sinc in the
      // reference; the spectrograms differ in their quietest bins (dB), the embeddings by a few %.
      Tensor got = load_npy(out.file("embeddings.npy"));
      require_rows_close(got, load_npy(kGenerated + "/" + c.frontend + "_bundled_pooled.npy"),
                         0.999, 0.05);
      // The 12-second recording is two windows (10 s + 2.2 s); the rest one each.
      for (const auto& row : read_jsonl(out.file("embeddings.jsonl")))
        CHECK(row["meta"]["segments"] == (row["id"] == "speech_12s.oga" ? 2 : 1));

      // alike.jsonl: for every recording the 3 best other recordings by cosine of the written
      // embeddings (computed here in double; exclude_self leaves the recording itself out).
      const int64_t n = got.dim(0), d = got.dim(1);
      std::vector<std::string> ids = sidecar_ids(out.file("embeddings.npy"));
      std::map<std::string, std::vector<Json>> by_query;
      for (const auto& j : read_jsonl(out.file("alike.jsonl")))
        by_query[j["record"]["query_id"]].push_back(j["record"]);
      REQUIRE(by_query.size() == static_cast<size_t>(n));
      for (int64_t q = 0; q < n; ++q) {
        std::vector<double> s(static_cast<size_t>(n));
        for (int64_t k = 0; k < n; ++k)
          s[k] = cosine(got.data<float>() + q * d, got.data<float>() + k * d, d);
        std::vector<int64_t> order;
        for (int64_t k = 0; k < n; ++k)
          if (k != q) order.push_back(k);
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t b) { return s[a] > s[b]; });
        const auto& recs = by_query[ids[q]];
        REQUIRE(recs.size() == 3);
        for (int rank = 0; rank < 3; ++rank) {
          INFO(ids[q] << " rank " << rank + 1);
          CHECK(recs[rank]["rank"] == rank + 1);
          CHECK(recs[rank]["corpus_id"] == ids[order[rank]]);
          CHECK(recs[rank]["score"].get<double>() == Approx(s[order[rank]]).margin(1e-5));
        }
        for (const auto& rec : recs) CHECK(rec["corpus_id"] != ids[q]);
      }
    }
  }
}

TEST_CASE(
    "shipped configs default to the seed's hub models and offline the error names the "
    "bundled ones and the MODEL= form",
    "[workflows]") {
  TempDir out("no-model");
  TempDir hf("empty-hf-home");  // no cache, and no network is tried by validate
  struct Case {
    const char* config;
    const char* hub_id;
  };
  for (const Case c :
       {Case{"configs/audio_to_embedding.yaml", "timm/resnet50.a1_in1k"},
        Case{"configs/text_similarity.yaml", "sentence-transformers/all-MiniLM-L6-v2"},
        Case{"configs/clip_image_text.yaml", "openai/clip-vit-base-patch32"}}) {
    auto r = run_command(
        "cd '" + source_path("") +
        "' && env -u MODEL -u CLIP_MODEL -u HF_HUB_CACHE -u HUGGINGFACE_HUB_CACHE HF_HOME='" +
        hf.path() + "' OUT='" + out.path() + "' '" + EMBEDFLOW_CLI + "' validate " + c.config);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(std::string("model '") + c.hub_id + "'"));
    CHECK_THAT(r.output, Catch::Contains("MODEL=tests/fixtures/text/tiny-bert-uncased (text)"));
    CHECK_THAT(r.output, Catch::Contains("CLIP_MODEL=tests/fixtures/clip/tiny (CLIP)"));
    CHECK_THAT(r.output, Catch::Contains("`MODEL=tests/fixtures/text/tiny-bert-uncased embedflow "
                                         "run configs/text_similarity.yaml`"));
    CHECK_THAT(r.output, !Catch::Contains("is not set"));
  }
}

TEST_CASE("text_similarity with the committed small BERT equals the reference BERT",
          "[workflows][text]") {
  TempDir out("text-sim");
  auto r = run_config("configs/text_similarity.yaml",
                      "MODEL=tests/fixtures/text/tiny-bert-uncased OUT='" + out.path() + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  Tensor emb = load_npy(out.file("embeddings.npy"));
  Tensor want = load_npy(source_path("tests/fixtures/text/tiny_uncased_expected.npy"));
  require_rows_close(emb, want, 0.999999, 1e-5);
  Tensor sim = load_npy(out.file("similarity.npy"));
  Tensor want_sim = load_npy(source_path("tests/fixtures/text/tiny_uncased_expected_cosine.npy"));
  REQUIRE(sim.shape() == want_sim.shape());
  for (int64_t i = 0; i < sim.numel(); ++i)
    CHECK(sim.data<float>()[i] == Approx(want_sim.data<float>()[i]).margin(1e-5));
  // Real words have their own embeddings: the three sentences are told apart (the 600-token
  // tiny-bert with CLS pooling prints 1.0000 everywhere).
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j)
      if (i != j) CHECK(sim.data<float>()[i * 3 + j] < 0.99f);
}

TEST_CASE("text_embeddings on its sample file equals the reference BERT row by row",
          "[workflows][text]") {
  TempDir out("text-emb");
  // Batches of 4 on 2 threads: the default plan runs two of them at once, and the rows still
  // come out in line order.
  auto r = run_config("configs/text_embeddings.yaml",
                      "MODEL=tests/fixtures/text/tiny-bert-uncased OUT='" + out.path() + "'",
                      "--threads 2 --set embed.batch_size=4");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // 25 lines, the empty one included.
  Tensor emb = load_npy(out.file("embeddings.npy"));
  Tensor want = load_npy(source_path("tests/fixtures/text/tiny_uncased_sentences_expected.npy"));
  REQUIRE(emb.dim(0) == 25);
  require_rows_close(emb, want, 0.999999, 1e-5);
  CHECK(sidecar_ids(out.file("embeddings.npy")).front() == "0");
  CHECK(sidecar_ids(out.file("embeddings.npy")).back() == "24");
}

TEST_CASE("a model whose metadata says random weights is named in one warning line per run",
          "[workflows]") {
  auto warnings = [](const std::string& output) {
    size_t n = 0;
    for (size_t at = output.find("holds random weights"); at != std::string::npos;
         at = output.find("holds random weights", at + 1))
      ++n;
    return n;
  };
  TempDir out("random-note");
  // The committed small BERT says so in its safetensors metadata ("note"); CLIP's two stages
  // share one file: still one line.
  auto r = run_config("configs/text_similarity.yaml",
                      "MODEL=tests/fixtures/text/tiny-bert-uncased OUT='" + out.path() + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(warnings(r.output) == 1);
  CHECK(r.output.find("tests/fixtures/text/tiny-bert-uncased/model.safetensors") !=
        std::string::npos);
  r = run_config("configs/clip_image_text.yaml",
                 "CLIP_MODEL=tests/fixtures/clip/tiny OUT='" + out.path() + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(warnings(r.output) == 1);

  // The same folder with the note taken out of the header: no warning.
  TempDir copy("random-note-model");
  const std::string model = copy.file("bert");
  fs::copy(source_path("tests/fixtures/text/tiny-bert-uncased"), model,
           fs::copy_options::recursive);
  const std::string bytes = read_file(model + "/model.safetensors");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  Json header = Json::parse(bytes.substr(8, n));
  REQUIRE(header["__metadata__"].contains("note"));
  header["__metadata__"].erase("note");
  std::string text = header.dump();
  while (text.size() % 8) text += ' ';
  std::string rewritten(8, '\0');
  for (int i = 0; i < 8; ++i) rewritten[i] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  write_file(model + "/model.safetensors", rewritten + text + bytes.substr(8 + n));
  r = run_config("configs/text_similarity.yaml", "MODEL='" + model + "' OUT='" + out.path() + "'");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(warnings(r.output) == 0);
}

TEST_CASE("embed: texts from the command line or standard input equal the reference BERT",
          "[workflows][text][embed]") {
  // configs/text_similarity.yaml's three sentences, whose reference embeddings and cosines the
  // float64 BERT wrote (tests/fixtures/text/make_models.py).
  const std::vector<std::string> sentences = {"The dog sits outside waiting for a treat.",
                                              "I am going swimming.", "The dog is swimming."};
  const std::string in_root = "cd '" + source_path("") + "' && ";
  const std::string embed = std::string("'") + EMBEDFLOW_CLI + "' embed";
  const std::string cli = in_root + embed;
  const std::string model = " --model tests/fixtures/text/tiny-bert-uncased";
  std::string args;
  for (const auto& t : sentences) args += " --text '" + t + "'";
  const Tensor want = load_npy(source_path("tests/fixtures/text/tiny_uncased_expected.npy"));

  auto vectors = [&](const CommandResult& r) {
    std::vector<float> values;
    std::vector<std::string> texts;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] != '{') continue;  // the random-weights warning (stderr)
      const Json j = Json::parse(line);
      texts.push_back(j["text"]);
      for (const auto& v : j["embedding"]) values.push_back(v.get<float>());
    }
    CHECK(texts == sentences);
    const auto n = static_cast<int64_t>(texts.size());
    return Tensor::from_vector(values, {n, n ? static_cast<int64_t>(values.size()) / n : 0});
  };

  const CommandResult given = run_command(cli + model + args);
  INFO(given.output);
  REQUIRE(given.exit_code == 0);
  const Tensor from_args = vectors(given);
  require_rows_close(from_args, want, 0.999999, 1e-5);

  // One line per text on standard input ('-'): the same vectors, to the printed digit.
  const CommandResult piped =
      run_command(in_root + "printf '%s\\n' '" + sentences[0] + "' '" + sentences[1] + "' '" +
                  sentences[2] + "' | " + embed + model + " -");
  INFO(piped.output);
  REQUIRE(piped.exit_code == 0);
  const Tensor from_stdin = vectors(piped);
  REQUIRE(from_stdin.shape() == from_args.shape());
  for (int64_t i = 0; i < from_args.numel(); ++i)
    CHECK(from_stdin.data<float>()[i] == from_args.data<float>()[i]);

  // --similarity: the cosine matrix as PyTorch prints it, four decimals, column numbers above,
  // each row ending with its number and text.
  const CommandResult matrix = run_command(cli + model + args + " --similarity");
  INFO(matrix.output);
  REQUIRE(matrix.exit_code == 0);
  const Tensor want_sim =
      load_npy(source_path("tests/fixtures/text/tiny_uncased_expected_cosine.npy"));
  const size_t table = matrix.output.find("tensor([[");
  REQUIRE(table != std::string::npos);
  std::istringstream rows(matrix.output.substr(table));
  std::string line;
  for (int r = 0; r < 3; ++r) {
    REQUIRE(std::getline(rows, line));
    const size_t open = line.find('['), close = line.find(']');
    REQUIRE(close != std::string::npos);
    std::string values = line.substr(line.find_first_not_of("[", open), close);
    std::replace(values.begin(), values.end(), ',', ' ');
    std::istringstream cells(values.substr(0, values.find(']')));
    for (int c = 0; c < 3; ++c) {
      double v = 0;
      REQUIRE(cells >> v);
      CHECK(v == Approx(want_sim.data<float>()[r * 3 + c]).margin(6e-5));
    }
    std::istringstream tail(line.substr(close + 1));
    std::string comma_or_end, index;
    tail >> comma_or_end >> index;
    CHECK(index == std::to_string(r));
    CHECK(line.size() >= sentences[r].size());
    CHECK(line.substr(line.size() - sentences[r].size()) == sentences[r]);
  }

  // -o: a .npy (and its sidecar) instead of printing.
  TempDir out("embed-npy");
  const CommandResult written = run_command(cli + model + args + " -o '" + out.file("e.npy") + "'");
  INFO(written.output);
  REQUIRE(written.exit_code == 0);
  require_rows_close(load_npy(out.file("e.npy")), want, 0.999999, 1e-5);
  CHECK(read_lines(out.file("e.jsonl")).size() == 3);

  // Nothing to embed is a usage error; a CLIP folder is embedded by its text tower.
  const CommandResult nothing = run_command(in_root + "true | " + embed + model + " -");
  CHECK(nothing.exit_code == 2);
  CHECK(nothing.output.find("no text to embed") != std::string::npos);
  const CommandResult clip =
      run_command(cli + " --model tests/fixtures/clip/tiny --text 'a photo of a cat'");
  INFO(clip.output);
  REQUIRE(clip.exit_code == 0);
  const auto first = clip.output.find('{');
  REQUIRE(first != std::string::npos);
  const Json j = Json::parse(clip.output.substr(first, clip.output.find('\n', first) - first));
  CHECK(j["embedding"].size() == 24);  // the tiny CLIP's projection width
}
