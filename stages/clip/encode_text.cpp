#include "stages/clip/encode_text.h"

#include <cstdint>

#include "embedflow/errors.h"
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
      "Tokenises with CLIP's byte-level BPE (text cleaning, lower-casing, <|startoftext|> … "
      "<|endoftext|>, context 77; ids equal to CLIPTokenizer / clip.tokenize), then runs token + "
      "position embeddings, the causal pre-norm transformer, the final LayerNorm, pooling at the "
      "end-of-text position and the text projection. Output: Embedding f32 `[projection_dim]` "
      "(512 for ViT-B/32), L2-normalised only with `normalize: true`.\n\n"
      "Captions longer than the context are cut to 77 tokens with <|endoftext|> kept last (as "
      "sentence-transformers and CLIPTokenizer(truncation=True) do) and get `meta.truncated: "
      "true`; `truncate: false` fails them instead (clip.tokenize's default). An empty caption "
      "is encoded as <|startoftext|><|endoftext|>, like the Python libraries do.\n\n"
      "Text cleaning is OpenAI's (ftfy subset, HTML unescaped twice, whitespace collapsed, "
      "lower-cased; see tests/fixtures/clip/README.md). Hugging Face's fast CLIPTokenizer, the "
      "default of sentence-transformers, skips ftfy and HTML unescaping: ids differ from it "
      "only for captions with HTML entities or mojibake.\n\n"
      "Shares one loaded model per folder with `encode.clip_image`.";
  s.inputs = {{"in", {Kind::Text}, "caption"}};
  s.output = Kind::Embedding;
  clip::add_encoder_contract(
      s, {ParamSpec::boolean("truncate", true)
              .describe("Cut captions longer than the context (77 tokens) keeping <|endoftext|> "
                        "last; false: fail such captions.")});
  return s;
}

ClipTextEncodeStage::ClipTextEncodeStage(const Params& p)
    : EncoderStage(p, Kind::Embedding), truncate_(p.get_bool("truncate")) {
  normalize_output(p.get_bool("normalize"));
}

std::shared_ptr<const models::ClipModel> ClipTextEncodeStage::load(const std::string& path) const {
  return models::ClipModel::load(path);
}

models::TokenIds ClipTextEncodeStage::prepare(const Item& in, Item& out) const {
  if (in.kind != Kind::Text)
    throw ItemFailure(std::string("expected a Text item, got ") + kind_name(in.kind));
  const auto& tok = model().tokenizer();
  const auto context = static_cast<size_t>(model().config().text.max_position_embeddings);
  // Untruncated first, to know whether the caption fits.
  std::vector<int64_t> seq = tok.tokenize(in.text, SIZE_MAX);
  const size_t n_tokens = seq.size();
  if (n_tokens > context) {
    if (!truncate_)
      throw ItemFailure("caption is " + std::to_string(n_tokens) +
                        " tokens, longer than the context of " + std::to_string(context) +
                        " (set truncate: true to cut it)");
    seq.resize(context);
    seq.back() = tok.eos_id();
    out.meta["truncated"] = true;
  }
  return models::TokenIds(seq.begin(), seq.end());
}

}  // namespace embedflow
