#include "stages/clip/encode_image.h"

#include "embedflow/errors.h"
#include "stages/clip/common.h"

namespace embedflow {

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
