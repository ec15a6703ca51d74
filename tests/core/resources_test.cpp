// How a run spends threads and memory: the model-stage thread plan (embedflow/thread_plan.h),
// the block cache behind every large buffer (embedflow/block_cache.h), and what a pipeline run
// reports of both.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "embedflow/block_cache.h"
#include "embedflow/tensor.h"
#include "embedflow/thread_plan.h"

using embedflow::BlockCache;
using embedflow::plan_model_stage;

TEST_CASE("thread plan: by default batches run side by side on one thread each") {
  for (int share : {1, 2, 3, 8, 64}) {
    const auto plan = plan_model_stage(share, -1, 0);
    CHECK(plan.concurrency == share);
    CHECK(plan.intra_op_threads == 1);
  }
  CHECK(plan_model_stage(0, -1, 0).concurrency == 1);  // a share never drops below one thread
}

TEST_CASE("thread plan: a given concurrency divides the share and a given threads is kept") {
  // concurrency: 1 is one batch at a time on every thread of the share.
  CHECK(plan_model_stage(8, 1, 0).concurrency == 1);
  CHECK(plan_model_stage(8, 1, 0).intra_op_threads == 8);
  CHECK(plan_model_stage(8, 2, 0).intra_op_threads == 4);
  CHECK(plan_model_stage(8, 3, 0).intra_op_threads == 2);
  CHECK(plan_model_stage(2, 4, 0).intra_op_threads == 1);
  CHECK(plan_model_stage(2, 4, 0).concurrency == 4);
  // unlimited: one call per thread of the share.
  CHECK(plan_model_stage(4, 0, 0).concurrency == 4);
  CHECK(plan_model_stage(4, 0, 0).intra_op_threads == 1);
  // threads alone: as many calls of that many threads as the share holds.
  CHECK(plan_model_stage(8, -1, 2).concurrency == 4);
  CHECK(plan_model_stage(8, -1, 2).intra_op_threads == 2);
  CHECK(plan_model_stage(2, -1, 4).concurrency == 1);
  CHECK(plan_model_stage(2, -1, 4).intra_op_threads == 4);
  // both given: both kept.
  CHECK(plan_model_stage(8, 3, 5).concurrency == 3);
  CHECK(plan_model_stage(8, 3, 5).intra_op_threads == 5);
}

TEST_CASE("thread plan: a stage type's concurrency limit holds, its calls get the rest") {
  // A model that allows one call at a time gets the whole share in that call.
  CHECK(plan_model_stage(4, -1, 0, 1).concurrency == 1);
  CHECK(plan_model_stage(4, -1, 0, 1).intra_op_threads == 4);
  CHECK(plan_model_stage(8, -1, 0, 2).intra_op_threads == 4);
  CHECK(plan_model_stage(8, 0, 0, 2).concurrency == 2);
  CHECK(plan_model_stage(8, 6, 0, 2).concurrency == 2);
  CHECK(plan_model_stage(8, -1, 3, 1).intra_op_threads == 3);  // a given threads is kept
  CHECK(plan_model_stage(2, -1, 0, 4).concurrency == 2);       // a limit above the share
}

TEST_CASE("block cache: a freed block serves the next buffer of about its size") {
  BlockCache cache(size_t{64} << 20);
  const size_t mib = size_t{1} << 20;
  void* a = cache.take(4 * mib);
  REQUIRE(a != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(a) % 4096 == 0);
  std::memset(a, 7, 4 * mib);
  CHECK(cache.stats().live_bytes == 4 * mib);
  CHECK(cache.give_back(a));
  CHECK(cache.stats().live_bytes == 0);
  if (!BlockCache::reuses_blocks()) {
    // ASan build: the block went back to the heap; ASan now reports any use of it.
    CHECK(cache.stats().cached_bytes == 0);
    CHECK_FALSE(cache.give_back(a));
    return;
  }
  CHECK(cache.stats().cached_bytes == 4 * mib);
  // Slightly smaller reuses it (waste under an eighth); half the size does not.
  void* b = cache.take(4 * mib - 100000);
  CHECK(b == a);
  void* c = cache.take(2 * mib);
  CHECK(c != a);
  CHECK(cache.stats().mapped == 2);
  CHECK(cache.give_back(b));
  CHECK(cache.give_back(c));
  // Not one of its blocks: refused, nothing changes.
  int local = 0;
  CHECK_FALSE(cache.give_back(&local));
  CHECK_FALSE(cache.give_back(a));  // already free
  CHECK(cache.stats().cached_bytes == 6 * mib);
}

TEST_CASE("block cache: the bound unmaps the oldest free blocks") {
  const size_t mib = size_t{1} << 20;
  if (!BlockCache::reuses_blocks()) {
    // ASan build: nothing is kept, whatever the bound.
    BlockCache cache(5 * mib);
    for (int i = 0; i < 4; ++i) CHECK(cache.give_back(cache.take(2 * mib)));
    CHECK(cache.stats().cached_bytes == 0);
    CHECK(cache.stats().mapped == 4);
    return;
  }
  BlockCache cache(5 * mib);
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(cache.take(2 * mib));
  for (void* p : blocks) CHECK(cache.give_back(p));
  // 8 MiB freed, 5 MiB kept: the two oldest went back to the system.
  CHECK(cache.stats().cached_bytes == 4 * mib);
  void* x = cache.take(2 * mib);
  void* y = cache.take(2 * mib);
  CHECK(((x == blocks[2] && y == blocks[3]) || (x == blocks[3] && y == blocks[2])));
  CHECK(cache.stats().mapped == 4);
  BlockCache none(0);
  void* p = none.take(mib);
  CHECK(none.give_back(p));
  CHECK(none.stats().cached_bytes == 0);
}

TEST_CASE("block cache: large tensors reuse memory item after item, small ones do not use it") {
  BlockCache& cache = BlockCache::instance();
  const uint64_t before = cache.stats().mapped;
  const size_t live_before = cache.stats().live_bytes;
  for (int i = 0; i < 200; ++i) {
    // A 3×224×224 float image (588 KiB), zero-filled and written as a stage would.
    embedflow::Tensor t(embedflow::DType::F32, {3, 224, 224});
    const float* x = t.data<float>();
    CHECK((x[0] == 0.0f && x[t.numel() - 1] == 0.0f));
    t.data<float>()[t.numel() - 1] = 1.0f;
  }
  // One block serves all of them (an ASan build allocates each from the heap instead).
  CHECK(cache.stats().mapped - before <= (BlockCache::reuses_blocks() ? 1u : 200u));
  CHECK(cache.stats().live_bytes == live_before);  // every block given back
  const size_t live = cache.stats().live_bytes;
  embedflow::Tensor small(embedflow::DType::F32, {1000});
  CHECK(cache.stats().live_bytes == live);
}
