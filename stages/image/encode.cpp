#include "stages/image/encode.h"

#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/torchscript_encoder.h"
#include "models/transformer/vision_model.h"

namespace embedflow {

namespace {

Kind output_kind_for(const std::string& layer) {
  return (layer == "pool" || layer == "logits") ? Kind::Embedding : Kind::Tensor;
}

}  // namespace

StageSchema encode_image_schema() {
  StageSchema s;
  s.type = "encode.image";
  s.kind = StageKind::Batch;
  s.summary =
      "Embed images with a ResNet (torchvision/timm), a ViT or DINOv2 (Hugging Face folders), or "
      "a TorchScript module.";
  s.doc =
      "ImageTensor f32 `[3, H, W]` → Embedding f32 `[D]`: the globally average-pooled features "
      "of ResNet-18/34 (512-d) or ResNet-50/101/152 (2048-d), the logits (`layer: logits`), or a "
      "feature map `[C, h, w]` (`layer: layer1` … `layer4`, output kind Tensor).\n\n"
      "A Hugging Face folder whose config.json says `model_type: vit` (google/vit-*, ViTModel or "
      "ViTForImageClassification keys) or `dinov2` (facebook/dinov2-*) runs as a vision "
      "transformer on the transformer core: `pooling` picks the embedding (`cls`: the class "
      "token after the final LayerNorm, DINOv2's pooler_output; `cls_mean`: with the mean patch "
      "token concatenated; `mean`; `pooler`: ViTModel's tanh pooler). ViT takes its "
      "config's image_size; DINOv2 any size, its position embeddings interpolated bicubically as "
      "transformers does. Preprocess as the folder's preprocessor_config.json says (ViT: resize "
      "to 224x224, mean and std 0.5; DINOv2: shorter side 256 bicubic, crop 224, ImageNet "
      "mean/std).\n\n"
      "`model` is a `.safetensors` file or a folder with `model.safetensors` (+ `config.json`) "
      "in torchvision's or timm's key layout (`conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`, "
      "…, `fc.*`); missing, unexpected and mis-shaped tensors are all reported by name with "
      "expected and found shapes. `arch` defaults to config.json's `architecture` or the block "
      "structure of the weights. `format: torchscript` (or a `.pt`/`.ts` archive) with "
      "`trust_torchscript: true` runs a module "
      "exported with torch.jit as-is; it must map [B, 3, H, W] to [B, D].\n\n"
      "Inference only: BatchNorm is folded into the convolutions at load, and `engine` picks how "
      "they run: `winograd` (default via `auto`) keeps activations channels-last and runs 3x3 "
      "stride-1 convolutions as Winograd F(4x4, 3x3), the others as GEMMs or oneDNN's NHWC "
      "kernels, with the residual add and ReLU fused; `onednn` runs the whole network on "
      "oneDNN's blocked layout with weights reordered once at load; `aten` runs libtorch's ops "
      "one by one as torchvision does (`channels_last` applies to it). All match torchvision's "
      "eager model within float rounding (tests: max |Δ| ≤ 1e-4 × max |ref|). The engine forms "
      "batches; images of different sizes in one batch are run in groups of equal size, and a "
      "malformed item fails alone.";
  s.inputs = {{"in", {Kind::ImageTensor}, "preprocessed image tensor (image.preprocess)"}};
  s.output = Kind::Embedding;
  s.output_for = [](const Params& p) { return output_kind_for(p.get_string("layer")); };
  s.params = {
      ParamSpec::model_path("model").require().describe(
          "Model file or folder (safetensors or TorchScript)."),
      ParamSpec::enumeration("arch", "auto",
                             {"auto", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"})
          .describe("Architecture; auto: config.json `architecture`, else from the weights."),
      ParamSpec::enumeration("format", "auto", {"auto", "safetensors", "torchscript"})
          .describe("Weights format; auto: from the file."),
      ParamSpec::boolean("trust_torchscript", false)
          .describe("Run a TorchScript archive. It is a program: loading it runs its code with "
                    "your permissions (it can read and write any file you can). Only for "
                    "archives you made or trust; safetensors weights need no trust."),
      ParamSpec::enumeration("layer", "pool",
                             {"pool", "logits", "layer1", "layer2", "layer3", "layer4"})
          .describe("Output: pooled features, classifier logits, or a stage's feature map."),
      ParamSpec::enumeration("pooling", "model", {"model", "cls", "cls_mean", "mean", "pooler"})
          .describe("Vision transformers: the embedding of an image (model: cls)."),
      precision_param("Vision transformers only: ResNets and TorchScript run fp32."),
      ParamSpec::boolean("normalize", false).describe("L2-normalise each embedding."),
      ParamSpec::boolean("fold_batchnorm", true)
          .describe("Fold BatchNorm into the convolutions at load (faster, equal results)."),
      ParamSpec::enumeration("engine", "auto", {"auto", "winograd", "onednn", "aten"})
          .describe("How convolutions run (winograd, onednn need fold_batchnorm); auto: winograd."),
      ParamSpec::boolean("channels_last", true)
          .describe("engine aten: run activations in NHWC memory format (faster on CPU)."),
  };
  s.default_concurrency = 1;
  s.max_concurrency = 0;
  s.default_batch_size = 16;
  s.uses_model_threads = true;
  return s;
}

EncodeImageStage::EncodeImageStage(const Params& p)
    : EncoderStage(p, output_kind_for(p.get_string("layer"))),
      format_(p.get_string("format")),
      trust_torchscript_(p.get_bool("trust_torchscript")) {
  const std::string arch = p.get_string("arch");
  options_.arch = arch == "auto" ? "" : arch;
  options_.layer = p.get_string("layer");
  options_.normalize = p.get_bool("normalize");
  options_.fold_batchnorm = p.get_bool("fold_batchnorm");
  options_.channels_last = p.get_bool("channels_last");
  options_.engine = p.get_string("engine");
  const std::string pooling = p.get_string("pooling");
  vit_options_.pooling = pooling == "model" ? "" : pooling;
  vit_options_.normalize = options_.normalize;
  vit_options_.precision = models::precision_named(p.get_string("precision"), "encode.image");
}

std::shared_ptr<const models::ImageEncoder> EncodeImageStage::load(const std::string& path) const {
  const models::ModelPath where =
      models::resolve_model_path(path, models::model_format_from_name(format_));
  if (where.format != models::ModelFormat::TorchScript) {
    if (models::VisionTransformer::handles(where.weights)) {
      if (options_.layer != "pool")
        throw models::ModelError(where.weights + ": layer '" + options_.layer +
                                 "' is a ResNet output; a vision transformer gives its pooled "
                                 "embedding (layer: pool, with pooling)");
      return models::VisionTransformer::load(path, vit_options_);
    }
    if (!vit_options_.pooling.empty())
      throw models::ModelError(where.weights + ": pooling '" + vit_options_.pooling +
                               "' applies to vision transformers; a ResNet pools with layer");
    if (vit_options_.precision != models::Precision::F32)
      throw models::ModelError(where.weights + ": precision " +
                               models::precision_name(vit_options_.precision) +
                               " applies to vision transformers; a ResNet runs fp32 (remove "
                               "precision)");
    return models::ResNetEncoder::load(path, options_);
  }
  if (!trust_torchscript_)
    throw models::ModelError(
        where.weights +
        " is a TorchScript archive: a program that runs with your permissions when it is "
        "loaded. Set trust_torchscript: true if you made it or trust where it came from; "
        "weights in safetensors need no trust");
  if (options_.layer != "pool")
    throw models::ModelError(where.weights + ": layer '" + options_.layer +
                             "' needs a ResNet from safetensors; a TorchScript module returns "
                             "what its forward returns (use layer: pool)");
  if (vit_options_.precision != models::Precision::F32)
    throw models::ModelError(where.weights + ": precision " +
                             models::precision_name(vit_options_.precision) +
                             " applies to vision transformers; a TorchScript module runs as "
                             "exported (remove precision)");
  return models::TorchScriptEncoder::load(where.weights, {options_.normalize});
}

Tensor EncodeImageStage::prepare(const Item& in, Item&) const {
  const Tensor& t = in.tensor;
  if (t.dtype() != DType::F32 || t.ndim() != 3 || t.dim(0) != 3)
    throw ItemFailure("encode.image: expected an ImageTensor f32 [3, H, W], got " +
                      std::string(dtype_name(t.dtype())) + " " + t.shape_str());
  return t;
}

}  // namespace embedflow
