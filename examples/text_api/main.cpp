// The C++ API without YAML: sentence-transformers' first example.
//
//   text_api_example /models/all-MiniLM-L6-v2 [sentences...]
//
// Python equivalent:
//   model = SentenceTransformer("all-MiniLM-L6-v2")
//   e = model.encode(sentences)
//   print(e.shape); print(model.similarity(e, e))
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "models/sentence_transformer.h"
#include "models/similarity.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [sentence ...]\n", argv[0]);
    return 2;
  }
  std::vector<std::string> sentences = {"The weather is lovely today.", "It's so sunny outside!",
                                        "He drove to the stadium."};
  if (argc > 2) sentences.assign(argv + 2, argv + argc);
  try {
    embedflow::models::SentenceTransformerOptions options;
    options.threads = 2;  // libtorch intra-op threads for each forward pass
    auto encoder = embedflow::models::SentenceTransformer::load(argv[1], options);
    embedflow::Tensor embeddings = encoder->encode(sentences);
    embedflow::Tensor similarity = embedflow::cosine(embeddings, embeddings);
    std::printf("%s\n", encoder->describe().c_str());
    std::printf("embeddings: %s\n", embeddings.shape_str().c_str());
    std::printf("%s\n", embedflow::format_like_torch(similarity).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
