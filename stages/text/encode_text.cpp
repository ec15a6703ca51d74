#include "stages/text/encode_text.h"

#include <iostream>

#include "embedflow/params.h"

namespace embedflow {

EncodeText::EncodeText(const Params& p) : EncoderStage(p, Kind::Embedding) {
  if (p.get_int("max_seq_length") > 0) options_.max_seq_length = p.get_int("max_seq_length");
  if (p.get_string("pooling") != "model") options_.pooling = {p.get_string("pooling")};
  const std::string norm = p.get_string("normalize");
  if (norm != "model") options_.normalize = norm == "true";
  options_.precision = p.get_string("precision");
  options_.prompt = p.get_string("prompt");
  options_.prompt_name = p.get_string("prompt_name");
}

std::shared_ptr<const models::SentenceTransformer> EncodeText::load(const std::string& path) const {
  auto model = models::SentenceTransformer::load(path, options_);
  for (const auto& w : model->warnings())
    std::cerr << "stage '" << params_.stage_id() << "': warning: " << w << "\n";
  return model;
}

models::TokenIds EncodeText::prepare(const Item& in, Item& out) const {
  out.text = in.text;  // the embedding keeps its sentence: write.index labels rows with it
  return model().tokenize(in.text);
}

}  // namespace embedflow
