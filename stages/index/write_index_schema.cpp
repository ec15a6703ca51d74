#include "stages/index/write_index.h"

#include <filesystem>

namespace embedflow {

std::string index_labels_path(const std::string& index_path) {
  std::string labels = std::filesystem::path(index_path).replace_extension(".jsonl").string();
  return labels == index_path ? labels + ".jsonl" : labels;
}

StageSchema write_index_schema() {
  StageSchema s;
  s.type = "write.index";
  s.kind = StageKind::Sink;
  s.summary = "Builds a FAISS vector index (flat, HNSW or IVF) of embeddings, for search.index";
  s.doc =
      "Collects every embedding, builds the index once the stream ends and writes it to "
      "`path` atomically, with the labels sidecar `<stem>.jsonl` beside it: one line per row, "
      "`{\"row\": i, \"id\": …, \"source\": …, \"text\": …}` (text when the item carries one: "
      "encode.text and encode.clip_text keep their input's), which search.index and "
      "`embedflow search` print as the hits' labels. The index file starts with a JSON header "
      "holding what a query needs (kind, width, normalisation, ef_search, nprobe), so "
      "searching needs no knowledge of how it was built, and the sidecar's SHA-256: "
      "search.index refuses a sidecar the index was not written with (a build stopped between "
      "committing the two files, or a copy from another index).\n\n"
      "Kinds (metric: inner product; with `normalize: true`, the default, that is cosine "
      "similarity, as score.cosine):\n"
      "- `flat`: exact search over every row (FAISS IndexFlatIP). Right up to some tens of "
      "thousands of rows.\n"
      "- `hnsw`: a graph (IndexHNSWFlat) with `m` links per node, built with "
      "`ef_construction` candidates; queries explore `ef_search` candidates. Fast and "
      "accurate on large collections; building costs the most.\n"
      "- `ivf`: k-means lists (IndexIVFFlat, `nlist` of them, trained on the vectors at the "
      "end of the stream); queries scan the `nprobe` nearest lists.\n\n"
      "Memory: the vectors are held until the end (rows × width floats), then the index "
      "(about the same again; HNSW adds `m`·2 links per row). Errors that would make a wrong "
      "index fail the run and write nothing: no embedding at all, an embedding whose width "
      "differs from the first one's (two models mixed), a NaN or infinite value. A cancelled "
      "run commits an index of the rows that arrived, as other writers do (beside a complete "
      "earlier one as `NAME.partial.EXT`).";
  s.inputs = {{"in", {Kind::Embedding}, "embeddings f32 [D] (encode.*, source.npy)"}};
  s.output = Kind::None;
  s.default_concurrency = 1;
  s.max_concurrency = 1;
  s.params = {
      ParamSpec::output_file("path").require().describe(
          "The index file (e.g. out/corpus.index); the labels go beside it as <stem>.jsonl"),
      ParamSpec::enumeration("kind", "flat", {"flat", "hnsw", "ivf"})
          .describe("flat: exact; hnsw: graph, approximate and fast; ivf: k-means lists, "
                    "approximate"),
      ParamSpec::boolean("normalize", true)
          .describe("L2-normalise rows (and, at search, queries): scores are cosine "
                    "similarities. false: raw inner products"),
      ParamSpec::integer("m", 32).range(4, 256).describe("hnsw: links per node"),
      ParamSpec::integer("ef_construction", 128)
          .range(8, 100000)
          .describe("hnsw: candidates considered when linking a node (higher: better graph, "
                    "slower build)"),
      ParamSpec::integer("ef_search", 64)
          .range(1, 100000)
          .describe("hnsw: candidates explored per query, stored in the index (search.index "
                    "can override it); at least k is always used"),
      ParamSpec::integer("nlist", 0)
          .range(0, 16777216)
          .describe("ivf: number of lists; 0 = about 4·√rows, with at least 39 rows per list"),
      ParamSpec::integer("nprobe", 32)
          .range(1, 16777216)
          .describe("ivf: lists scanned per query, stored in the index (search.index can "
                    "override it)"),
      ParamSpec::integer("threads", 0)
          .range(0, 1024)
          .describe("Threads for building (FAISS's OpenMP); 0 = every core. The build runs "
                    "after the last embedding arrived"),
  };
  return s;
}

}  // namespace embedflow
