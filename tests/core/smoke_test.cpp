#include <catch2/catch.hpp>

#include "embedflow/npy.h"
#include "tests/support/test_support.h"

TEST_CASE("npy round trip") {
  embedflow::test::TempDir dir;
  embedflow::Tensor t = embedflow::Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  embedflow::write_npy(dir.file("a.npy"), t);
  auto back = embedflow::read_npy(dir.file("a.npy"));
  REQUIRE(back.shape() == std::vector<int64_t>{2, 3});
  REQUIRE(back.data<float>()[5] == 6.0f);
}
