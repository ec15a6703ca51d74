// source.npy reads back what write.npy wrote: rows, ids, metadata — a second job's input.
#include <catch2/catch.hpp>

#include "embedflow/config.h"
#include "embedflow/npy.h"
#include "stages/io/source_npy.h"
#include "tests/support/test_support.h"

using namespace embedflow;

TEST_CASE("source.npy: rows as embeddings with the sidecar's ids") {
  test::TempDir dir;
  write_npy(dir.file("e.npy"), Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2}));
  test::write_file(dir.file("e.jsonl"),
                   "{\"row\":0,\"id\":\"a.wav\",\"source\":\"/d/a.wav\",\"meta\":{\"k\":1}}\n"
                   "{\"row\":1,\"id\":\"b.wav\",\"source\":\"/d/b.wav\"}\n"
                   "{\"row\":2,\"id\":\"c.wav\",\"source\":\"/d/c.wav\"}\n");
  SourceNpy src(resolve_params(source_npy_schema(), "s", {{"path", dir.file("e.npy")}}));
  src.open(StageContext{});
  REQUIRE(src.size_hint() == 3u);
  std::vector<Item> items;
  for (Item it; src.next(it); it = Item()) items.push_back(it);
  REQUIRE(items.size() == 3);
  CHECK(items[0].id == "a.wav");
  CHECK(items[0].meta["k"] == 1);
  CHECK(items[2].source == "/d/c.wav");
  CHECK(items[1].kind == Kind::Embedding);
  CHECK(items[1].tensor.shape() == std::vector<int64_t>{2});
  CHECK(items[1].tensor.data<float>()[1] == 4.0f);

  // Without a sidecar: row ids, or a clear error when one was expected.
  write_npy(dir.file("f.npy"), Tensor::from_vector<float>({1, 2}, {2, 1}));
  SourceNpy bare(resolve_params(source_npy_schema(), "s", {{"path", dir.file("f.npy")}, {"sidecar", false}}));
  bare.open(StageContext{});
  Item first;
  REQUIRE(bare.next(first));
  CHECK(first.id == "row-0");
  SourceNpy missing(resolve_params(source_npy_schema(), "s", {{"path", dir.file("f.npy")}}));
  CHECK_THROWS_WITH(missing.open(StageContext{}), Catch::Contains("set sidecar: false"));
}
