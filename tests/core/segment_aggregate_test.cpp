// audio.segment splits a recording into windows; aggregate.mean pools them back per file.
#include <catch2/catch.hpp>

#include "embedflow/config.h"
#include "stages/aggregate/mean.h"
#include "stages/audio/segment.h"

using namespace embedflow;

namespace {

ItemPtr audio_item(const std::string& id, int sr, const std::vector<float>& samples) {
  auto it = std::make_shared<Item>();
  it->id = id;
  it->source = id + ".wav";
  it->kind = Kind::Audio;
  it->sample_rate = sr;
  it->tensor = Tensor::from_vector(samples, {1, static_cast<int64_t>(samples.size())});
  it->meta["speaker"] = "a";
  return it;
}

std::vector<float> ramp(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return v;
}

}  // namespace

TEST_CASE("audio.segment: windows, hop, tail handling and metadata") {
  // 10 samples/s, 2.5 s of audio = 25 samples; window 1 s, hop 0.5 s.
  auto params = resolve_params(segment_schema(), "seg", {{"window", 1.0}, {"hop", 0.5}});
  SegmentStage stage(params);
  std::vector<Item> out;
  stage.process({audio_item("rec", 10, ramp(25))}, out);
  // Starts 0, 5, 10, 15: the window at 15 reaches the end (15..25).
  REQUIRE(out.size() == 4);
  CHECK(out[0].id == "rec#0");
  CHECK(out[3].id == "rec#3");
  CHECK(out[1].meta["parent_id"] == "rec");
  CHECK(out[1].meta["segment"] == 1);
  CHECK(out[1].meta["start"].get<double>() == Approx(0.5));
  CHECK(out[1].meta["end"].get<double>() == Approx(1.5));
  CHECK(out[1].meta["speaker"] == "a");
  CHECK(out[2].tensor.shape() == std::vector<int64_t>{1, 10});
  CHECK(out[2].tensor.data<float>()[0] == 10.0f);
  CHECK(out[2].tensor.data<float>()[9] == 19.0f);

  // No overlap, a 0.5 s tail: kept unpadded, padded, or dropped below min_duration.
  std::vector<Item> plain, padded, dropped;
  SegmentStage(resolve_params(segment_schema(), "s", {{"window", 1.0}}))
      .process({audio_item("r", 10, ramp(25))}, plain);
  REQUIRE(plain.size() == 3);
  CHECK(plain[2].tensor.shape() == std::vector<int64_t>{1, 5});
  SegmentStage(resolve_params(segment_schema(), "s", {{"window", 1.0}, {"pad_last", true}}))
      .process({audio_item("r", 10, ramp(25))}, padded);
  REQUIRE(padded.size() == 3);
  CHECK(padded[2].tensor.shape() == std::vector<int64_t>{1, 10});
  CHECK(padded[2].tensor.data<float>()[4] == 24.0f);
  CHECK(padded[2].tensor.data<float>()[5] == 0.0f);
  CHECK(padded[2].meta["end"].get<double>() == Approx(2.5));
  SegmentStage(resolve_params(segment_schema(), "s", {{"window", 1.0}, {"min_duration", 0.8}}))
      .process({audio_item("r", 10, ramp(25))}, dropped);
  CHECK(dropped.size() == 2);

  // A recording shorter than min_duration still gives one segment: no file vanishes.
  std::vector<Item> short_one;
  SegmentStage(resolve_params(segment_schema(), "s", {{"window", 1.0}, {"min_duration", 0.8}}))
      .process({audio_item("tiny", 10, ramp(3))}, short_one);
  REQUIRE(short_one.size() == 1);
  CHECK(short_one[0].tensor.shape() == std::vector<int64_t>{1, 3});

  CHECK_THROWS_AS(resolve_params(segment_schema(), "s", Json::object()), ConfigError);
}

TEST_CASE("aggregate.mean: pools per parent, keeps the parent's identity") {
  auto emb = [](const std::string& id, const std::string& parent, std::vector<float> v) {
    auto it = std::make_shared<Item>();
    it->id = id;
    it->kind = Kind::Embedding;
    it->tensor = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
    it->meta["parent_id"] = parent;
    it->meta["start"] = 0.0;
    it->meta["speaker"] = "b";
    return ItemPtr(it);
  };
  std::vector<Item> out;
  AggregateMeanStage(resolve_params(aggregate_mean_schema(), "agg", Json::object()))
      .process({emb("f#0", "f", {1, 2}), emb("f#1", "f", {3, 6}), emb("f#2", "f", {5, 1})}, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].id == "f");
  CHECK(out[0].tensor.data<float>()[0] == Approx(3.0));
  CHECK(out[0].tensor.data<float>()[1] == Approx(3.0));
  CHECK(out[0].meta["segments"] == 3);
  CHECK(out[0].meta["speaker"] == "b");
  CHECK_FALSE(out[0].meta.contains("start"));

  std::vector<Item> normed;
  AggregateMeanStage(resolve_params(aggregate_mean_schema(), "agg", {{"normalize", true}}))
      .process({emb("g#0", "g", {3, 0}), emb("g#1", "g", {3, 8})}, normed);
  REQUIRE(normed.size() == 1);
  CHECK(normed[0].tensor.data<float>()[0] == Approx(0.6));  // mean (3, 4) / 5
  CHECK(normed[0].tensor.data<float>()[1] == Approx(0.8));
}
