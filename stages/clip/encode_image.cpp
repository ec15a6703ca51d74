#include "stages/clip/encode_image.h"

#include "embedflow/errors.h"
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

ClipImageEncodeStage::ClipImageEncodeStage(const Params& p)
    : EncoderStage(p, Kind::Embedding),
      precision_(models::precision_named(p.get_string("precision"), p.stage_id())),
      preprocess_(p.get_bool("preprocess")),
      resample_(p.get_string("resample") == "torchvision" ? image::Resample::Torchvision
                                                          : image::Resample::Pil) {
  normalize_output(p.get_bool("normalize"));
}

std::shared_ptr<const models::ClipModel> ClipImageEncodeStage::load(const std::string& path) const {
  return models::ClipModel::load(path, precision_);
}

Tensor ClipImageEncodeStage::prepare(const Item& item, Item&) const {
  const int64_t s = model().config().vision.image_size;
  if (item.kind == Kind::ImageTensor) {
    const Tensor& t = item.tensor;
    if (t.dtype() != DType::F32 || t.ndim() != 3 || t.dim(0) != 3 || t.dim(1) != s || t.dim(2) != s)
      throw ItemFailure("image tensor must be f32 [3, " + std::to_string(s) + ", " +
                        std::to_string(s) + "] for this model, got " + dtype_name(t.dtype()) + " " +
                        t.shape_str());
    return t;
  }
  if (item.kind != Kind::Image)
    throw ItemFailure(std::string("expected an Image or ImageTensor item, got ") +
                      kind_name(item.kind));
  if (!preprocess_)
    throw ItemFailure("got a decoded image " + item.tensor.shape_str() +
                      " but preprocess is false: set preprocess: true, or prepare f32 [3, " +
                      std::to_string(s) + ", " + std::to_string(s) + "] tensors upstream");
  Tensor t = image::hf_preprocess(item.tensor, model().config().processor, resample_);
  if (t.dim(1) != s || t.dim(2) != s)
    throw ItemFailure("preprocessor_config.json crops to " + std::to_string(t.dim(1)) + "x" +
                      std::to_string(t.dim(2)) + " but the model takes " + std::to_string(s) + "x" +
                      std::to_string(s));
  return t;
}

}  // namespace embedflow
