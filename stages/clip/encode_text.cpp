#include "stages/clip/encode_text.h"

#include <cstdint>
#include <exception>

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
    : params_(p), normalize_(p.get_bool("normalize")), truncate_(p.get_bool("truncate")) {}

void ClipTextEncodeStage::open(const StageContext& ctx) {
  stage_id_ = ctx.stage_id.empty() ? params_.stage_id() : ctx.stage_id;
  threads_ = ctx.threads;
  model_ = clip::open_model(params_);
}

void ClipTextEncodeStage::process_batch(const std::vector<const Item*>& in,
                                        std::vector<Item>& out) {
  const auto& tok = model_->tokenizer();
  const auto context = static_cast<size_t>(model_->config().text.max_position_embeddings);
  std::vector<std::vector<int64_t>> ids;
  std::vector<size_t> rows;
  for (size_t i = 0; i < in.size(); ++i) {
    try {
      if (in[i]->kind != Kind::Text)
        throw ItemFailure(std::string("expected a Text item, got ") + kind_name(in[i]->kind));
      // Untruncated first, to know whether the caption fits.
      std::vector<int64_t> seq = tok.tokenize(in[i]->text, SIZE_MAX);
      const size_t n_tokens = seq.size();
      if (n_tokens > context) {
        if (!truncate_)
          throw ItemFailure("caption is " + std::to_string(n_tokens) +
                            " tokens, longer than the context of " + std::to_string(context) +
                            " (set truncate: true to cut it)");
        seq.resize(context);
        seq.back() = tok.eos_id();
        out[i].meta["truncated"] = true;
      }
      ids.push_back(std::move(seq));
      rows.push_back(i);
    } catch (const std::exception& e) {
      clip::fail_item(out[i], stage_id_, e.what());
    }
  }
  if (ids.empty()) return;
  const Tensor emb = model_->encode_token_ids(ids, threads_);
  for (size_t k = 0; k < rows.size(); ++k) {
    Item& o = out[rows[k]];
    o.kind = Kind::Embedding;
    o.tensor = clip::embedding_row(emb, static_cast<int64_t>(k), normalize_);
  }
}

}  // namespace embedflow
