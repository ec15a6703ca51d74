// `embedflow search INDEX --model M [--text T …] [--file F | -] [-k K] [--json]`: texts against a
// vector index in one command. It builds the pipeline a user would write (source.text →
// encode.text or encode.clip_text → search.index → write.jsonl), runs it in a temporary folder,
// and prints each query with its hits, labelled with the texts or paths the index's sidecar
// holds. The model must be the one that embedded the index.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "apps/embedflow/commands.h"
#include "apps/embedflow/text_input.h"
#include "models/model_path.h"

namespace embedflow::cli {

namespace {

struct SearchArgs {
  std::string index, model, file, stage = "auto";
  std::vector<std::string> texts, overrides;
  int k = 10;
  int ef_search = 0, nprobe = 0;
  bool json = false;
  int threads = 0;
};

std::string pipeline_yaml(const SearchArgs& a, const std::vector<std::string>& texts,
                          const std::string& encoder, const std::string& dir) {
  // JSON strings are YAML double-quoted scalars: any text, quotes and newlines included.
  std::string y = "pipeline: search\nerrors: " + Json(dir + "/errors.jsonl").dump() +
                  "\nstages:\n"
                  "  - id: text\n    type: source.text\n    params:\n      items: " +
                  Json(texts).dump() + "\n  - id: embed\n    type: " + encoder +
                  "\n    input: text\n    params:\n      model: " + Json(a.model).dump() +
                  "\n  - id: search\n    type: search.index\n    input: embed\n"
                  "    params:\n      index: " +
                  Json(a.index).dump() + "\n      k: " + std::to_string(a.k) + "\n";
  if (a.ef_search > 0) y += "      ef_search: " + std::to_string(a.ef_search) + "\n";
  if (a.nprobe > 0) y += "      nprobe: " + std::to_string(a.nprobe) + "\n";
  y += "  - id: hits\n    type: write.jsonl\n    input: search\n    params:\n      path: " +
       Json(dir + "/hits.jsonl").dump() + "\n";
  return y;
}

void print_hits(const Json& record) {
  std::cout << "query: " << record.value("query", std::string()) << "\n";
  const Json& hits = record.at("hits");
  if (hits.empty()) std::cout << "  (no hits)\n";
  char buf[64];
  for (const Json& h : hits) {
    std::snprintf(buf, sizeof buf, "  %3lld  %7.4f  ", static_cast<long long>(h.at("rank")),
                  h.at("score").get<double>());
    std::cout << buf << label(h.at("label").get<std::string>(), 100) << "\n";
  }
}

int search(SearchArgs& a, const Registry& registry) {
  const auto texts = texts_or_report(a.texts, a.file, "query");
  if (!texts) return kExitInvalid;
  ScratchDir dir("embedflow-search");
  const std::string encoder = a.stage == "auto" ? models::text_encoder_stage_for(a.model) : a.stage;
  if (!run_generated_pipeline(pipeline_yaml(a, *texts, encoder, dir.path), "embedflow search",
                              registry, a.overrides, a.threads, dir.path, "some queries failed"))
    return kExitFailed;
  std::ifstream in(dir.path + "/hits.jsonl");
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    const Json record = Json::parse(line).at("record");
    if (a.json) {
      std::cout << Json{{"query", record.at("query")}, {"hits", record.at("hits")}}.dump() << "\n";
    } else {
      if (!first) std::cout << "\n";
      print_hits(record);
    }
    first = false;
  }
  return kExitOk;
}

}  // namespace

void add_search_command(CLI::App& app, CommandList& commands, const Registry& registry) {
  auto a = std::make_shared<SearchArgs>();
  auto* cmd = app.add_subcommand(
      "search", "Search a vector index (write.index) with texts: each query's nearest items");
  cmd->add_option("index", a->index, "The index file written by a write.index stage")->required();
  cmd->add_option("--model", a->model,
                  "The model that embedded the index: a sentence-transformers or CLIP folder, "
                  "or a hub id in the cache")
      ->required();
  cmd->add_option("--text", a->texts, "A query (repeatable)");
  cmd->add_option("file,--file", a->file,
                  "A file of queries, one per line; '-' reads them from standard input");
  cmd->add_option("-k", a->k, "Hits per query")->check(CLI::Range(1, 100000));
  cmd->add_option("--ef-search", a->ef_search, "hnsw: candidates per query (default: the index's)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--nprobe", a->nprobe, "ivf: lists scanned per query (default: the index's)")
      ->check(CLI::Range(1, 16777216));
  cmd->add_flag("--json", a->json,
                "One JSON line per query: {query, hits: [{rank, id, label, "
                "score}]}");
  cmd->add_option("--stage", a->stage, "The encoder stage (auto: from the model's config.json)")
      ->check(CLI::IsMember({"auto", "encode.text", "encode.clip_text"}));
  cmd->add_option("--threads", a->threads, "Cores to use")->check(CLI::Range(1, 1024));
  add_set_option(cmd, a->overrides);
  cmd->footer(
      "Build the index with a pipeline (source.text or source.files → encode.* → write.index), "
      "then:\n"
      "  embedflow search out/corpus.index --model all-MiniLM-L6-v2 --text 'a dog swimming'\n"
      "  embedflow search out/photos.index --model clip-vit-base-patch32 --text 'a red car' -k 5\n"
      "  embedflow search out/corpus.index --model M --file queries.txt --json");
  commands.push_back({cmd, [a, &registry] { return search(*a, registry); }});
}

}  // namespace embedflow::cli
