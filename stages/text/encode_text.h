// encode.text: sentence embeddings with a BERT sentence-transformers model (models/text_encoder.h).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "models/text_encoder.h"

namespace embedflow {

StageSchema encode_text_schema();

class EncodeText : public BatchStage {
 public:
  explicit EncodeText(const Params& params);
  void open(const StageContext& ctx) override;
  void process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) override;

 private:
  Params params_;
  TextEncoderOptions options_;
  std::string stage_id_;
  std::optional<TextEncoder> encoder_;
};

}  // namespace embedflow
