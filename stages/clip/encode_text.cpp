#include "stages/clip/encode_text.h"

#include <cstdint>

#include "embedflow/errors.h"
#include "models/tokenizers/openai_clip_text.h"
#include "stages/clip/common.h"

namespace embedflow {

StageSchema encode_clip_text_schema() {
  StageSchema s;
  s.type = "encode.clip_text";
  s.kind = StageKind::Batch;
  s.summary =
      "Embed captions with a CLIP text tower (unnormalised projections, as "
      "sentence-transformers' clip-ViT-B-32 and CLIPModel.get_text_features).";
  s.doc =
      "Tokenises with the folder's tokenizer (tokenizer.json, else vocab.json + merges.txt; ids "
      "equal to Hugging Face's CLIPTokenizerFast: NFC, whitespace collapsed, lower-cased, "
      "<|startoftext|> … <|endoftext|>, context 77), then runs token + "
      "position embeddings, the causal pre-norm transformer, the final LayerNorm, pooling at the "
      "end-of-text position and the text projection. Output: Embedding f32 `[projection_dim]` "
      "(512 for ViT-B/32), L2-normalised only with `normalize: true`.\n\n"
      "Captions longer than the context are cut to 77 tokens with <|endoftext|> kept last (as "
      "sentence-transformers and CLIPTokenizer(truncation=True) do) and get `meta.truncated: "
      "true`; `truncate: false` fails them instead (clip.tokenize's default). An empty caption "
      "is encoded as <|startoftext|><|endoftext|>, like the Python libraries do.\n\n"
      "`text_cleaning: openai` first applies OpenAI's `clip.tokenize` cleaning (an ftfy subset: "
      "mojibake repaired, fullwidth forms, curly quotes and ligatures folded to ASCII, controls "
      "removed; HTML unescaped twice; whitespace stripped and collapsed; lower-cased; see "
      "tests/fixtures/clip/README.md), for comparisons with the `clip` package. Its ids differ "
      "from Hugging Face's on many ordinary captions, not only on HTML or mojibake: curly quotes "
      "and CJK punctuation such as `，：（）！` become other tokens.\n\n"
      "Shares one loaded model per folder with `encode.clip_image`.";
  s.inputs = {{"in", {Kind::Text}, "caption"}};
  s.output = Kind::Embedding;
  clip::add_encoder_contract(
      s, {ParamSpec::boolean("truncate", true)
              .describe("Cut captions longer than the context (77 tokens) keeping <|endoftext|> "
                        "last; false: fail such captions."),
          ParamSpec::enumeration("text_cleaning", "none", {"none", "openai"})
              .describe("none: the tokenizer as the folder's tokenizer.json defines it (Hugging "
                        "Face's ids); openai: OpenAI's clip.tokenize cleaning first.")});
  return s;
}

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
