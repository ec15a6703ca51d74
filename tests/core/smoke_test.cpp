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

#include "embedflow/hash.h"

TEST_CASE("sha256 matches the FIPS 180-2 test vectors") {
  CHECK(embedflow::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(embedflow::sha256_hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  embedflow::test::TempDir dir;
  embedflow::test::write_file(dir.file("f"), "abc");
  CHECK(embedflow::sha256_file(dir.file("f")) == embedflow::sha256_hex("abc"));
}
