#include "stages/image/encode.h"

#include <cstring>
#include <map>

#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "models/safetensors.h"

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
  s.summary = "Embed images with a ResNet (torchvision/timm safetensors) or a TorchScript module.";
  s.doc =
      "ImageTensor f32 `[3, H, W]` → Embedding f32 `[D]`: the globally average-pooled features "
      "of ResNet-18/34 (512-d) or ResNet-50/101/152 (2048-d), the logits (`layer: logits`), or a "
      "feature map `[C, h, w]` (`layer: layer1` … `layer4`, output kind Tensor).\n\n"
      "`model` is a `.safetensors` file or a folder with `model.safetensors` (+ `config.json`) "
      "in torchvision's or timm's key layout (`conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`, "
      "…, `fc.*`); missing, unexpected and mis-shaped tensors are all reported by name with "
      "expected and found shapes. `arch` defaults to config.json's `architecture` or the block "
      "structure of the weights. `format: torchscript` (or a `.pt`/`.ts` archive) runs a module "
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
      ParamSpec::enumeration("layer", "pool",
                             {"pool", "logits", "layer1", "layer2", "layer3", "layer4"})
          .describe("Output: pooled features, classifier logits, or a stage's feature map."),
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
    : params_(p), model_path_(p.get_string("model")) {
  const std::string arch = p.get_string("arch");
  options_.arch = arch == "auto" ? "" : arch;
  options_.format = p.get_string("format");
  options_.layer = p.get_string("layer");
  options_.normalize = p.get_bool("normalize");
  options_.fold_batchnorm = p.get_bool("fold_batchnorm");
  options_.channels_last = p.get_bool("channels_last");
  options_.engine = p.get_string("engine");
  output_kind_ = output_kind_for(options_.layer);
}

void EncodeImageStage::open(const StageContext& ctx) {
  stage_id_ = ctx.stage_id;
  threads_ = std::max(1, ctx.threads);
  try {
    encoder_ = models::ImageEncoder::load(model_path_, options_);
  } catch (const models::ModelError& e) {
    throw params_.error("model", e.what());
  }
}

void EncodeImageStage::process_batch(const std::vector<const Item*>& in, std::vector<Item>& out) {
  if (!encoder_) throw std::logic_error("encode.image: process_batch before open");
  // Group rows by image size: a batch tensor needs one shape.
  std::map<std::pair<int64_t, int64_t>, std::vector<size_t>> groups;
  for (size_t i = 0; i < in.size(); ++i) {
    const Tensor& t = in[i]->tensor;
    if (t.dtype() != DType::F32 || t.ndim() != 3 || t.dim(0) != 3) {
      out[i].error = std::make_shared<ItemError>(
          ItemError{stage_id_, "encode.image: expected an ImageTensor f32 [3, H, W], got " +
                                   std::string(dtype_name(t.dtype())) + " " + t.shape_str()});
      continue;
    }
    groups[{t.dim(1), t.dim(2)}].push_back(i);
  }
  for (const auto& [hw, rows] : groups) {
    const auto [h, w] = hw;
    const int64_t per = 3 * h * w;
    Tensor batch(DType::F32, {static_cast<int64_t>(rows.size()), 3, h, w});
    for (size_t r = 0; r < rows.size(); ++r)
      std::memcpy(batch.data<float>() + r * per, in[rows[r]]->tensor.data<float>(),
                  sizeof(float) * per);
    auto result = std::make_shared<Tensor>(encoder_->encode(batch, threads_));
    std::vector<int64_t> row_shape(result->shape().begin() + 1, result->shape().end());
    const int64_t row_numel = result->numel() / result->dim(0);
    for (size_t r = 0; r < rows.size(); ++r) {
      Item& o = out[rows[r]];
      o.kind = output_kind_;
      // Rows share the batch output's storage.
      o.tensor = Tensor(DType::F32, row_shape, result,
                        result->data<float>() + static_cast<int64_t>(r) * row_numel);
    }
  }
}

}  // namespace embedflow
