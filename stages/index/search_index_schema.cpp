#include "stages/index/search_index.h"

namespace embedflow {

StageSchema search_index_schema() {
  StageSchema s;
  s.type = "search.index";
  s.kind = StageKind::Map;
  s.summary = "Searches a vector index (write.index) with each query embedding: its top k hits";
  s.doc =
      "Loads `index` and its labels sidecar once when the run opens. For each embedding in, a "
      "record out: `{\"query_id\": …, \"query\": text or source, \"hits\": [{\"rank\": 1, "
      "\"id\": …, \"label\": text or path, \"score\": …}, …]}`, best first; with the index's "
      "normalisation (the default) scores are cosine similarities. The query must come from "
      "the model that embedded the index (the same width; a different width fails the run).\n\n"
      "How the index is searched is stored in it (`ef_search` for hnsw, `nprobe` for ivf); "
      "the parameters here override it for this run, trading speed for recall.";
  s.inputs = {{"in", {Kind::Embedding}, "query embeddings f32 [D] (encode.*)"}};
  s.output = Kind::Record;
  s.default_concurrency = 0;
  s.params = {
      ParamSpec::input_path("index").require().describe(
          "The index file written by write.index (its <stem>.jsonl labels beside it)"),
      ParamSpec::integer("k", 10).range(1, 100000).describe("Hits per query"),
      ParamSpec::integer("ef_search", 0)
          .range(0, 100000)
          .describe("hnsw: candidates explored per query; 0 = the index's own"),
      ParamSpec::integer("nprobe", 0)
          .range(0, 16777216)
          .describe("ivf: lists scanned per query; 0 = the index's own"),
      ParamSpec::boolean("exclude_self", false)
          .describe("Leave out hits whose id is the query's (searching an index with its own "
                    "items); k others are listed"),
  };
  return s;
}

}  // namespace embedflow
