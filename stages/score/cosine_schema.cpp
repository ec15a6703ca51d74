#include "stages/score/cosine.h"

namespace embedflow {

StageSchema score_cosine_schema() {
  StageSchema s;
  s.type = "score.cosine";
  s.kind = StageKind::Reduce;
  s.summary = "Cosine similarity of queries against a corpus: the full matrix or the top k.";
  s.doc =
      "Embedding streams in, scores out, as sentence-transformers' `util.cos_sim` / "
      "`model.similarity` (rows L2-normalised, then multiplied). Works for any embeddings of "
      "one width: text, CLIP image against CLIP text, audio.\n\n"
      "Inputs: `queries` (port 0) and `corpus` (port 1); with only `queries` connected every "
      "query is scored against all queries (all-vs-all). Rows and columns are in source "
      "order.\n\n"
      "`output: matrix` emits one Embedding item per query: f32 `[M]`, its row of the `[N, M]` "
      "matrix (id and meta of the query, plus `meta.query_index`); write.npy stacks them into "
      "the matrix, write.csv writes one line per query. `output: top_k` emits one Record per "
      "(query, rank): `{query_id, corpus_id, score, rank}` (rank 1 is the best; ties go to the "
      "earlier corpus item), for write.jsonl / write.csv.\n\n"
      "Memory: both embedding sets are held (N·D + M·D floats); the score matrix is never "
      "materialised — queries are scored in blocks against `block_rows` corpus rows at a time "
      "(one GEMM per block) and top-k candidates are merged block by block.\n\n"
      "`print: true` also prints the matrix to standard output the way PyTorch prints a "
      "tensor (for small matrices, up to 100×100), by default labelled: column numbers above, "
      "each row followed by its number and item id (and the sentence, for text embeddings), "
      "and with a corpus a legend of the "
      "columns (`print_format: torch`: the bare tensor text, as `util.cos_sim` prints it). "
      "write.heatmap draws the matrix as a picture.";
  s.inputs = {{"queries", {Kind::Embedding}, "query embeddings (or all items, all-vs-all)"},
              {"corpus", {Kind::Embedding}, "corpus embeddings (optional)", true}};
  s.output = Kind::Embedding;
  s.output_for = [](const Params& p) {
    return p.get_string("output") == "top_k" ? Kind::Record : Kind::Embedding;
  };
  s.params = {
      ParamSpec::enumeration("output", "matrix", {"matrix", "top_k"})
          .describe("matrix: one row of scores per query; top_k: the k best corpus items per "
                    "query as records."),
      ParamSpec::integer("k", 10).range(1, 1000000).describe("Neighbours per query (top_k)."),
      ParamSpec::boolean("exclude_self", false)
          .describe("top_k: leave a query out of its own neighbours. All-vs-all: the same item "
                    "(by position, so a duplicate file still counts as a neighbour); with a "
                    "corpus: corpus items with the query's id. Then k other items are listed."),
      ParamSpec::integer("block_rows", 16384)
          .range(1, 100000000)
          .describe("Corpus rows per GEMM block: bounds memory to queries-block × block_rows "
                    "scores."),
      ParamSpec::boolean("print", false)
          .describe("Print the matrix to stdout like PyTorch prints a tensor (≤ 100×100)."),
      ParamSpec::enumeration("print_format", "labelled", {"labelled", "torch"})
          .describe("labelled: column numbers and each row's number and id beside the tensor; "
                    "torch: the tensor text alone."),
  };
  s.default_concurrency = 1;
  s.max_concurrency = 1;
  return s;
}

}  // namespace embedflow
