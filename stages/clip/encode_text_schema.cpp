#include "stages/clip/encode_text.h"

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

}  // namespace embedflow
