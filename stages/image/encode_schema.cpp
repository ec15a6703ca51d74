#include "stages/image/encode.h"

#include "stages/common/encoder_params.h"

namespace embedflow {

Kind encode_image_output_kind(const std::string& layer) {
  return (layer == "pool" || layer == "logits") ? Kind::Embedding : Kind::Tensor;
}

StageSchema encode_image_schema() {
  StageSchema s;
  s.type = "encode.image";
  s.kind = StageKind::Batch;
  s.summary =
      "Embed images with a ResNet (torchvision/timm), a ViT or DINOv2 (Hugging Face folders), or "
      "a TorchScript module.";
  s.doc =
      "ImageTensor f32 `[3, H, W]` → Embedding f32 `[D]`: the globally average-pooled features "
      "of ResNet-18/34 (512-d) or ResNet-50/101/152, ResNeXt-50/101 and Wide ResNet-50/101 "
      "(2048-d), the logits (`layer: logits`), or a "
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
  s.output_for = [](const Params& p) { return encode_image_output_kind(p.get_string("layer")); };
  s.params = {
      ParamSpec::model_path("model").require().describe(
          "Model file or folder (safetensors or TorchScript)."),
      // models::resnet_arches(), which this torch-free file cannot call (tests/image checks).
      ParamSpec::enumeration(
          "arch", "auto",
          {"auto", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
           "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"})
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

}  // namespace embedflow
