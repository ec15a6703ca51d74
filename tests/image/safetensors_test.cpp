// The safetensors reader on hand-built files: valid layouts, every malformed-header class of
// the untrusted-file rules, and dtype conversion against numpy's.
#include <catch2/catch.hpp>

#include <memory>

#include "models/safetensors.h"
#include "tests/image/image_test_util.h"

using namespace embedflow;
using namespace embedflow::models;
using namespace embedflow::test;

namespace {

std::shared_ptr<SafeTensorsFile> parse_string(const std::string& bytes) {
  auto buf = std::make_shared<std::string>(bytes);
  return SafeTensorsFile::parse("mem.safetensors", std::shared_ptr<const void>(buf, buf->data()),
                                buf->size());
}

// The ModelError message parse() throws, or "" when it does not throw.
std::string parse_error(const std::string& bytes) {
  try {
    parse_string(bytes);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

const std::string kEight(8 * 4, '\0');  // 8 floats

}  // namespace

TEST_CASE("safetensors: a valid file lists tensors, offsets and metadata") {
  const std::string bytes =
      safetensors_bytes({{"a", "F32", {2, 4}, f32_bytes({1, 2, 3, 4, 5, 6, 7, 8})},
                         {"b.c", "I64", {1}, std::string(8, '\x07')},
                         {"empty", "F32", {0, 3}, ""}},
                        {{"format", "pt"}});
  auto f = parse_string(bytes);
  REQUIRE(f->tensors().size() == 3);
  const SafeTensorInfo* a = f->find("a");
  REQUIRE(a);
  CHECK(a->dtype == "F32");
  CHECK(a->shape == std::vector<int64_t>{2, 4});
  CHECK(a->nbytes == 32);
  const uint64_t header_len = bytes.size() - 8 - 32 - 8;
  CHECK(a->offset == 8 + header_len);
  float v[8];
  std::memcpy(v, f->data(*a), 32);
  CHECK(v[0] == 1.0f);
  CHECK(v[7] == 8.0f);
  CHECK(f->find("b.c")->offset == 8 + header_len + 32);
  CHECK(f->find("empty")->nbytes == 0);
  CHECK(f->find("nope") == nullptr);
  CHECK(f->metadata().at("format") == "pt");
  CHECK(f->path() == "mem.safetensors");
}

TEST_CASE("safetensors: header length out of bounds") {
  CHECK_THAT(parse_error(""), Catch::Contains("shorter than the 8-byte header length"));
  CHECK_THAT(parse_error("abc"), Catch::Contains("mem.safetensors"));
  // Header length larger than the file.
  std::string b = raw_safetensors("{}", "");
  b[0] = 100;
  CHECK_THAT(parse_error(b), Catch::Contains("truncated: header length 100"));
  // Absurd header length (beyond the 100 MB cap).
  std::string huge(16, '\0');
  huge[5] = 0x10;  // 2^44
  CHECK_THAT(parse_error(huge), Catch::Contains("exceeds the limit"));
  std::string all_ones(16, '\xff');
  CHECK_THAT(parse_error(all_ones), Catch::Contains("exceeds the limit"));
}

TEST_CASE("safetensors: JSON errors") {
  CHECK_THAT(parse_error(raw_safetensors("{\"a\": ", "")), Catch::Contains("invalid JSON header"));
  CHECK_THAT(parse_error(raw_safetensors("[1, 2]", "")), Catch::Contains("not a JSON object"));
  CHECK_THAT(parse_error(raw_safetensors("{\"a\": 3}", "")),
             Catch::Contains("tensor 'a': header entry is not an object"));
  CHECK_THAT(parse_error(raw_safetensors(R"({"__metadata__": {"k": 1}})", "")),
             Catch::Contains("__metadata__ value 'k' is not a string"));
  CHECK_THAT(parse_error(raw_safetensors(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})",
                                         std::string(8, '\0'))),
             Catch::Contains("tensor 'w': missing or non-string 'dtype'"));
}

TEST_CASE("safetensors: unknown dtype names the tensor") {
  const std::string h = R"({"w": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}})";
  CHECK_THAT(parse_error(raw_safetensors(h, std::string(8, '\0'))),
             Catch::Contains("tensor 'w': unknown dtype 'F33'"));
}

TEST_CASE("safetensors: offsets out of range, reversed or overlapping") {
  const std::string past = R"({"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 64]}})";
  CHECK_THAT(parse_error(raw_safetensors(past, kEight)),
             Catch::Contains("tensor 'w': data_offsets [0, 64] run past the end"));
  const std::string reversed = R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})";
  CHECK_THAT(parse_error(raw_safetensors(reversed, kEight)), Catch::Contains("end before begin"));
  const std::string negative = R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})";
  CHECK_THAT(parse_error(raw_safetensors(negative, kEight)),
             Catch::Contains("'data_offsets' must be two non-negative integers"));
  const std::string overlap =
      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
          "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})";
  CHECK_THAT(parse_error(raw_safetensors(overlap, kEight)),
             Catch::Contains("tensors 'a' and 'b' have overlapping data_offsets"));
  // Touching ranges are fine.
  const std::string touching =
      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
          "b": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}})";
  CHECK(parse_error(raw_safetensors(touching, kEight)).empty());
}

TEST_CASE("safetensors: shape x dtype must equal the byte length") {
  const std::string h = R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})";
  CHECK_THAT(parse_error(raw_safetensors(h, kEight)),
             Catch::Contains("tensor 'w': shape [3] x F32 is 12 bytes but data_offsets span 8"));
  const std::string neg = R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})";
  CHECK_THAT(parse_error(raw_safetensors(neg, kEight)),
             Catch::Contains("not a non-negative integer"));
  const std::string frac = R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})";
  CHECK_THAT(parse_error(raw_safetensors(frac, kEight)),
             Catch::Contains("not a non-negative integer"));
  // numel overflowing 64 bits must not wrap around to a small byte count.
  const std::string ovf =
      R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 0]}})";
  CHECK_THAT(parse_error(raw_safetensors(ovf, kEight)), Catch::Contains("too large"));
}

TEST_CASE("safetensors: truncated file on disk names the file and tensor") {
  TempDir dir("st");
  const std::string full = safetensors_bytes(
      {{"a", "F32", {4}, f32_bytes({1, 2, 3, 4})}, {"b", "F32", {4}, f32_bytes({5, 6, 7, 8})}});
  write_file(dir.file("cut.safetensors"), full.substr(0, full.size() - 5));
  try {
    SafeTensorsFile::open(dir.file("cut.safetensors"));
    FAIL("no error for a truncated file");
  } catch (const ModelError& e) {
    CHECK_THAT(e.what(), Catch::Contains(dir.file("cut.safetensors")));
    CHECK_THAT(e.what(), Catch::Contains("tensor 'b'"));
    CHECK_THAT(e.what(), Catch::Contains("file truncated?"));
  }
  write_file(dir.file("empty.safetensors"), "");
  CHECK_THROWS_WITH(SafeTensorsFile::open(dir.file("empty.safetensors")),
                    Catch::Contains("empty.safetensors: not a safetensors file: 0 bytes"));
  CHECK_THROWS_WITH(SafeTensorsFile::open(dir.file("missing.safetensors")),
                    Catch::Contains("missing.safetensors: cannot open"));
  CHECK_THROWS_WITH(SafeTensorsFile::open(dir.path()), Catch::Contains("not a regular file"));
}

TEST_CASE("safetensors: every prefix of a valid file fails cleanly") {
  const std::string full = safetensors_bytes(
      {{"a", "F32", {4}, f32_bytes({1, 2, 3, 4})}, {"b", "BF16", {2}, std::string(4, '\x3f')}});
  for (size_t n = 0; n < full.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK_FALSE(parse_error(full.substr(0, n)).empty());
  }
  CHECK(parse_error(full).empty());
}
