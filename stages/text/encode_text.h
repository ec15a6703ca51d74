// encode.text: sentence embeddings with a sentence-transformers model of any supported family
// (models/sentence_transformer.h).
#pragma once

#include <memory>
#include <string>

#include "embedflow/schema.h"
#include "models/sentence_transformer.h"
#include "stages/common/encoder_stage.h"

namespace embedflow {

StageSchema encode_text_schema();

class EncodeText : public EncoderStage<models::SentenceTransformer, models::TokenIds> {
 public:
  explicit EncodeText(const Params& params);
  // One embedding of the model's width per text, known once the model is loaded.
  std::optional<RowShape> output_row_shape(const std::optional<RowShape>& input) const override {
    (void)input;
    if (!loaded()) return std::nullopt;
    return RowShape{{model().dim()}, DType::F32};
  }

 private:
  std::shared_ptr<const models::SentenceTransformer> load(const std::string& path) const override;
  models::TokenIds prepare(const Item& in, Item& out) const override;

  models::SentenceTransformerOptions options_;
};

}  // namespace embedflow
