#include "embedflow/item.h"

namespace embedflow {

namespace {
struct KindName {
  Kind kind;
  const char* name;
};
constexpr KindName kKindNames[] = {
    {Kind::None, "none"},
    {Kind::Text, "text"},
    {Kind::File, "file"},
    {Kind::Audio, "audio"},
    {Kind::Spectrogram, "spectrogram"},
    {Kind::Image, "image"},
    {Kind::ImageTensor, "image_tensor"},
    {Kind::Embedding, "embedding"},
    {Kind::Tensor, "tensor"},
    {Kind::Record, "record"},
};
}  // namespace

const char* kind_name(Kind k) {
  for (const auto& kn : kKindNames)
    if (kn.kind == k) return kn.name;
  return "?";
}

bool kind_from_name(const std::string& name, Kind& out) {
  for (const auto& kn : kKindNames)
    if (name == kn.name) {
      out = kn.kind;
      return true;
    }
  return false;
}

Item Item::derive() const {
  Item out;
  out.id = id;
  out.source = source;
  out.index = index;
  out.batch_group = batch_group;
  out.sample_rate = sample_rate;
  out.meta = meta;
  return out;
}

}  // namespace embedflow
