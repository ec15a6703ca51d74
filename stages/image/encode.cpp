#include "stages/image/encode.h"

#include "embedflow/errors.h"
#include "embedflow/params.h"
#include "models/model_path.h"
#include "models/safetensors.h"
#include "models/torchscript_encoder.h"
#include "models/transformer/vision_model.h"

namespace embedflow {

EncodeImageStage::EncodeImageStage(const Params& p)
    : EncoderStage(p, encode_image_output_kind(p.get_string("layer"))),
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
