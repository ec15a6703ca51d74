#include "stages/clip/encode_text.h"

#include <cstdint>

#include "embedflow/errors.h"
#include "models/tokenizers/openai_clip_text.h"
#include "stages/clip/common.h"

namespace embedflow {

ClipTextEncodeStage::ClipTextEncodeStage(const Params& p)
    : EncoderStage(p, Kind::Embedding),
      precision_(models::precision_named(p.get_string("precision"), p.stage_id())),
      truncate_(p.get_bool("truncate")),
      openai_cleaning_(p.get_string("text_cleaning") == "openai") {
  normalize_output(p.get_bool("normalize"));
}

std::shared_ptr<const models::ClipModel> ClipTextEncodeStage::load(const std::string& path) const {
  return models::ClipModel::load(path, precision_);
}

models::TokenIds ClipTextEncodeStage::prepare(const Item& in, Item& out) const {
  if (in.kind != Kind::Text)
    throw ItemFailure(std::string("expected a Text item, got ") + kind_name(in.kind));
  out.text = in.text;  // the embedding keeps its caption: write.index labels rows with it
  const auto& tok = model().tokenizer();
  const auto context = static_cast<size_t>(model().config().text.max_position_embeddings);
  const std::string text = openai_cleaning_ ? tokenizers::clip_clean_text(in.text) : in.text;
  // Untruncated first, to know whether the caption fits. Cutting the whole sequence and putting
  // <|endoftext|> last is HF's truncation (room kept for the special tokens) and clip.tokenize's.
  models::TokenIds seq = tok.encode_ids(text, tokenizers::Tokenizer::kNoTruncation);
  const size_t n_tokens = seq.size();
  if (n_tokens > context) {
    if (!truncate_)
      throw ItemFailure("caption is " + std::to_string(n_tokens) +
                        " tokens, longer than the context of " + std::to_string(context) +
                        " (set truncate: true to cut it)");
    seq.resize(context);
    seq.back() = model().eos_id();
    out.meta["truncated"] = true;
  }
  return seq;
}

}  // namespace embedflow
