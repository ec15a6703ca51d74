#include "stages/audio/segment.h"

#include <cmath>
#include <cstring>

namespace embedflow {

StageSchema segment_schema() {
  StageSchema s;
  s.type = "audio.segment";
  s.kind = StageKind::Map;
  s.summary = "Split recordings into fixed-length windows, one item per window.";
  s.doc =
      "Segment k of item `id` gets the id `id#k` and meta `parent_id`, `segment`, `start` and "
      "`end` (seconds). Windows start every `hop` seconds; a tail shorter than `min_duration` is "
      "dropped (a recording shorter than that still yields one segment, so no file vanishes), a "
      "longer one is kept as is or zero-padded to a full window with `pad_last`. The segments of "
      "one recording travel together, so `aggregate.mean` downstream pools them per file.";
  s.inputs = {PortSpec{"audio", {Kind::Audio}, "decoded audio (audio.load)", false}};
  s.output = Kind::Audio;
  s.default_concurrency = 0;
  s.params = {
      ParamSpec::number("window", std::nullopt)
          .require()
          .range(0.01, 86400)
          .describe("Window length in seconds"),
      ParamSpec::number("hop", std::nullopt)
          .no_default()
          .range(0.01, 86400)
          .describe("Seconds between window starts (default: the window, i.e. no overlap)"),
      ParamSpec::number("min_duration", 0.0)
          .range(0, 86400)
          .describe("Drop a last window shorter than this many seconds"),
      ParamSpec::boolean("pad_last", false)
          .describe("Zero-pad the last window to the full length (equal shapes for write.npy)"),
  };
  return s;
}

SegmentStage::SegmentStage(const Params& p)
    : window_s_(p.get_float("window")),
      hop_s_(p.has("hop") ? p.get_float("hop") : p.get_float("window")),
      min_s_(p.get_float("min_duration")),
      pad_last_(p.get_bool("pad_last")) {}

void SegmentStage::process(const std::vector<ItemPtr>& in, std::vector<Item>& out) {
  for (const ItemPtr& item : in) {
    const Tensor& audio = item->tensor;
    if (audio.ndim() != 2 || item->sample_rate <= 0)
      throw ItemFailure("audio.segment expects audio [channels, samples] with a sample rate, got " +
                        audio.shape_str());
    const int64_t channels = audio.dim(0), n = audio.dim(1);
    const double sr = item->sample_rate;
    const int64_t win = std::max<int64_t>(1, std::llround(window_s_ * sr));
    const int64_t hop = std::max<int64_t>(1, std::llround(hop_s_ * sr));
    const int64_t min_len = std::llround(min_s_ * sr);
    const float* src = audio.data<float>();
    int64_t k = 0;
    for (int64_t start = 0; start < n || (start == 0 && n == 0); start += hop) {
      int64_t len = std::min(win, n - start);
      bool first = k == 0;
      if (!first && len < min_len) break;
      int64_t out_len = (pad_last_ && len < win) ? win : len;
      Item seg = item->derive();
      seg.id = item->id + "#" + std::to_string(k);
      seg.kind = Kind::Audio;
      seg.tensor = Tensor(DType::F32, {channels, out_len});  // zero-filled: the padding
      float* dst = seg.tensor.data<float>();
      for (int64_t c = 0; c < channels; ++c)
        std::memcpy(dst + c * out_len, src + c * n + start,
                    static_cast<size_t>(len) * sizeof(float));
      seg.meta["parent_id"] = item->id;
      seg.meta["segment"] = k;
      seg.meta["start"] = static_cast<double>(start) / sr;
      seg.meta["end"] = static_cast<double>(start + len) / sr;
      out.push_back(std::move(seg));
      ++k;
      if (start + win >= n) break;  // this window reached the end
    }
  }
}

}  // namespace embedflow
