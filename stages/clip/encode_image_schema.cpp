#include "stages/clip/encode_image.h"

#include "stages/clip/common.h"

namespace embedflow {

StageSchema encode_clip_image_schema() {
  StageSchema s;
  s.type = "encode.clip_image";
  s.kind = StageKind::Batch;
  s.summary =
      "Embed images with a CLIP vision tower (unnormalised projections, as "
      "sentence-transformers' clip-ViT-B-32 and CLIPModel.get_image_features).";
  s.doc =
      "Runs the vision half of a Hugging Face CLIPModel checkpoint: patch convolution, class "
      "token, position embeddings, pre-LayerNorm, pre-norm transformer blocks (quick_gelu), "
      "post-LayerNorm on the class token, visual projection. Output: Embedding f32 "
      "`[projection_dim]` (512 for ViT-B/32), L2-normalised only with `normalize: true` — "
      "sentence-transformers returns them unnormalised; `score.cosine` normalises itself.\n\n"
      "Images (u8 `[H, W, 3]` from `image.load`; gray and RGBA are converted as PIL's "
      "`convert(\"RGB\")`) go through the model's own CLIPImageProcessor settings from "
      "`preprocessor_config.json`: shorter side to 224 bicubic, center crop 224, rescale 1/255, "
      "CLIP mean/std. With `resample: pil` (default) the result is pixel-identical to "
      "transformers/sentence-transformers, which resize with PIL. ImageTensor inputs (f32 "
      "`[3, S, S]`, S = the model's image_size) are taken as already prepared; with "
      "`preprocess: false` every input must be one.\n\n"
      "Shares one loaded model per folder with `encode.clip_text`.";
  s.inputs = {{"in", {Kind::Image, Kind::ImageTensor}, "decoded image or prepared tensor"}};
  s.output = Kind::Embedding;
  clip::add_encoder_contract(
      s,
      {ParamSpec::boolean("preprocess", true)
           .describe("Apply the model's CLIPImageProcessor to Image inputs. false: only accept "
                     "prepared ImageTensor inputs of the model's input size."),
       ParamSpec::enumeration("resample", "pil", {"pil", "torchvision"})
           .describe("Resize implementation for preprocessing: `pil` reproduces PIL's bicubic "
                     "(what transformers' CLIPImageProcessor uses) exactly; `torchvision` uses "
                     "the torchvision tensor-path bicubic with antialias of `image.preprocess`.")});
  return s;
}

}  // namespace embedflow
