// text.tokenize: the ids, tokens and offsets a model's tokenizer gives each text, as a record —
// what an encoder stage feeds its model, for write.jsonl and for debugging embeddings.
#pragma once

#include <memory>

#include "embedflow/schema.h"
#include "embedflow/stage.h"
#include "models/tokenizers/tokenizer.h"

namespace embedflow {

StageSchema text_tokenize_schema();

class TextTokenize : public ItemStage {
 public:
  explicit TextTokenize(const Params& params);
  void open(const StageContext& ctx) override;
  void process(const Item& in, Item& out) override;

 private:
  Params params_;
  std::shared_ptr<const tokenizers::Tokenizer> tokenizer_;
  size_t max_length_;
  bool add_special_tokens_;
  bool strip_;
  bool openai_cleaning_;
  bool with_tokens_;
};

}  // namespace embedflow
