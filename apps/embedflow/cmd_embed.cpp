// `embedflow embed --model M [--text T …] [--file F | -]`: texts to embeddings in one command,
// as `SentenceTransformer(M).encode(texts)` is in Python. It builds the pipeline a user would
// write (source.text → encode.text or encode.clip_text → write.npy, and score.cosine for
// --similarity), runs it in a temporary folder, and prints what came out with the texts as
// labels: the vectors as JSON Lines, or the labelled cosine matrix.
#include <cstdio>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "apps/embedflow/commands.h"
#include "apps/embedflow/text_input.h"
#include "embedflow/npy.h"
#include "models/model_path.h"
#include "models/similarity.h"

namespace embedflow::cli {

namespace {

struct EmbedArgs {
  std::string model, file, output, stage = "auto";
  std::vector<std::string> texts, overrides;
  bool similarity = false;
  int threads = 0;
};

// Where the run writes the embeddings: --output, else the scratch folder.
std::string embeddings_path(const EmbedArgs& a, const std::string& dir) {
  return a.output.empty() ? dir + "/embeddings.npy" : a.output;
}

std::string pipeline_yaml(const EmbedArgs& a, const std::vector<std::string>& texts,
                          const std::string& encoder, const std::string& dir) {
  // JSON strings are YAML double-quoted scalars: any text, quotes and newlines included.
  const std::string embeddings = embeddings_path(a, dir);
  std::string y = "pipeline: embed\nerrors: " + Json(dir + "/errors.jsonl").dump() +
                  "\nstages:\n"
                  "  - id: text\n    type: source.text\n    params:\n      items: " +
                  Json(texts).dump() + "\n  - id: embed\n    type: " + encoder +
                  "\n    input: text\n    params:\n      model: " + Json(a.model).dump() +
                  "\n  - id: embeddings\n    type: write.npy\n    input: embed\n"
                  "    params:\n      path: " +
                  Json(embeddings).dump() + "\n";
  if (a.similarity)
    y += "  - id: similarity\n    type: score.cosine\n    input: embed\n"
         "    params:\n      output: matrix\n"
         "  - id: matrix\n    type: write.npy\n    input: similarity\n    params:\n      path: " +
         Json(dir + "/similarity.npy").dump() + "\n      sidecar: false\n";
  return y;
}

void print_vectors(const std::vector<std::string>& texts, const Tensor& e) {
  const int64_t n = e.dim(0), d = e.dim(1);
  for (int64_t r = 0; r < n; ++r) {
    std::string line =
        "{\"text\":" + Json(texts[static_cast<size_t>(r)]).dump() + ",\"embedding\":[";
    char buf[32];
    for (int64_t c = 0; c < d; ++c) {
      std::snprintf(buf, sizeof buf, "%s%.9g", c ? "," : "", e.data<float>()[r * d + c]);
      line += buf;
    }
    std::cout << line << "]}\n";
  }
}

int embed(EmbedArgs& a, const Registry& registry) {
  const auto texts = texts_or_report(a.texts, a.file, "text to embed");
  if (!texts) return kExitInvalid;
  ScratchDir dir;
  const std::string encoder = a.stage == "auto" ? models::text_encoder_stage_for(a.model) : a.stage;
  if (!run_generated_pipeline(pipeline_yaml(a, *texts, encoder, dir.path), "embedflow embed",
                              registry, a.overrides, a.threads, dir.path, "some texts failed"))
    return kExitFailed;
  const Tensor embeddings = read_npy(embeddings_path(a, dir.path));
  if (a.similarity)
    // Aligned as PyTorch prints it, columns numbered, each row its number and text.
    std::cout << format_like_torch_labelled(read_npy(dir.path + "/similarity.npy"), *texts) << "\n";
  else if (a.output.empty())
    print_vectors(*texts, embeddings);
  else
    std::cerr << "wrote " << a.output << " (" << embeddings.dim(0) << " x " << embeddings.dim(1)
              << ")\n";
  return kExitOk;
}

}  // namespace

void add_embed_command(CLI::App& app, CommandList& commands, const Registry& registry) {
  auto a = std::make_shared<EmbedArgs>();
  auto* cmd = app.add_subcommand(
      "embed", "Embed texts with a model: print their vectors, their similarity, or write .npy");
  cmd->add_option("--model", a->model,
                  "A sentence-transformers or CLIP folder, or a hub id in the cache")
      ->required();
  cmd->add_option("--text", a->texts, "A text to embed (repeatable)");
  cmd->add_option("file,--file", a->file,
                  "A file of texts, one per line; '-' reads them from standard input");
  cmd->add_flag("--similarity", a->similarity,
                "Print the cosine similarity matrix, rows labelled with their texts");
  cmd->add_option(
      "--output,-o", a->output,
      "Write the embeddings to this .npy (with its .jsonl sidecar) instead of printing");
  cmd->add_option("--stage", a->stage, "The encoder stage (auto: from the model's config.json)")
      ->check(CLI::IsMember({"auto", "encode.text", "encode.clip_text"}));
  cmd->add_option("--threads", a->threads, "Cores to use")->check(CLI::Range(1, 1024));
  add_set_option(cmd, a->overrides);
  cmd->footer(
      "Examples:\n"
      "  embedflow embed --model all-MiniLM-L6-v2 --text 'The dog sits outside.' "
      "--text 'I am going swimming.' --similarity\n"
      "  echo 'a sentence' | embedflow embed --model all-MiniLM-L6-v2 -\n"
      "  embedflow embed --model M --file sentences.txt -o embeddings.npy\n"
      "--set embed.precision=int8 (or any encode.text parameter) tunes the encoder.");
  commands.push_back({cmd, [a, &registry] { return embed(*a, registry); }});
}

}  // namespace embedflow::cli
