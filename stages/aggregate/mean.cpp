#include "stages/aggregate/mean.h"

#include <cmath>
#include <map>

namespace embedflow {

StageSchema aggregate_mean_schema() {
  StageSchema s;
  s.type = "aggregate.mean";
  s.kind = StageKind::Map;
  s.summary = "Mean-pool the embeddings of each source item's segments into one vector.";
  s.doc =
      "Items are grouped by `meta.parent_id` (set by audio.segment); an item without one is its "
      "own group. The pooled item takes the parent's id, keeps the first segment's metadata "
      "without the per-segment keys, and records how many segments it pooled in `meta.segments`. "
      "Failed segments are left out of the mean (they are in errors.jsonl); a file all of whose "
      "segments failed produces no row.";
  s.inputs = {
      PortSpec{"embeddings", {Kind::Embedding, Kind::Tensor}, "per-segment vectors", false}};
  s.output = Kind::Embedding;
  s.default_concurrency = 0;
  s.params = {ParamSpec::boolean("normalize", false).describe("L2-normalise the pooled vector")};
  return s;
}

AggregateMeanStage::AggregateMeanStage(const Params& p) : normalize_(p.get_bool("normalize")) {}

void AggregateMeanStage::process(const std::vector<ItemPtr>& in, std::vector<Item>& out) {
  // Groups in order of first appearance (segments arrive in order).
  std::vector<std::string> order;
  std::map<std::string, std::vector<const Item*>> groups;
  for (const ItemPtr& it : in) {
    std::string key = it->meta.contains("parent_id") && it->meta["parent_id"].is_string()
                          ? it->meta["parent_id"].get<std::string>()
                          : it->id;
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(it.get());
  }
  for (const auto& key : order) {
    const auto& members = groups[key];
    const Tensor& first = members.front()->tensor;
    Tensor sum(DType::F32, first.shape());
    std::vector<double> acc(static_cast<size_t>(first.numel()), 0.0);  // double: many segments
    for (const Item* m : members) {
      if (m->tensor.shape() != first.shape())
        throw ItemFailure("aggregate.mean: segment " + m->id + " has shape " +
                          m->tensor.shape_str() + ", the first has " + first.shape_str());
      const float* v = m->tensor.data<float>();
      for (size_t i = 0; i < acc.size(); ++i) acc[i] += v[i];
    }
    float* dst = sum.data<float>();
    double norm = 0;
    for (size_t i = 0; i < acc.size(); ++i) {
      dst[i] = static_cast<float>(acc[i] / static_cast<double>(members.size()));
      norm += double(dst[i]) * dst[i];
    }
    if (normalize_ && norm > 0) {
      float inv = static_cast<float>(1.0 / std::sqrt(norm));
      for (int64_t i = 0; i < first.numel(); ++i) dst[i] *= inv;
    }
    Item pooled = members.front()->derive();
    pooled.id = key;
    for (const char* k : {"parent_id", "segment", "start", "end"}) pooled.meta.erase(k);
    pooled.meta["segments"] = members.size();
    pooled.kind = Kind::Embedding;
    pooled.tensor = sum;
    out.push_back(std::move(pooled));
  }
}

}  // namespace embedflow
