// The file comparators of `embedflow test`: each case builds a golden and a "current" file whose
// difference is known by construction, and checks what is reported (row, item id, detail) — or
// that a difference inside the tolerance is not.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "embedflow/npy.h"
#include "embedflow/regression/compare.h"
#include "tests/support/test_support.h"

using namespace embedflow;
using namespace embedflow::regression;
using namespace embedflow::test;

namespace {

// 3 rows of 4 values, distinct and non-zero, with the sidecar write.npy would write.
std::vector<float> base_values() {
  return {0.5f, -1.0f, 2.0f, 0.25f, 1.5f, 0.75f, -0.5f, 3.0f, -2.0f, 1.0f, 0.125f, -0.75f};
}

void write_rows(const std::string& path, const std::vector<float>& v, int64_t rows = 3,
                bool sidecar = true) {
  write_npy(path, Tensor::from_vector(v, {rows, static_cast<int64_t>(v.size()) / rows}));
  if (!sidecar) return;
  std::string side = path.substr(0, path.size() - 4) + ".jsonl", text;
  const char* ids[] = {"a.wav", "b.wav", "c.wav", "d.wav", "e.wav"};
  for (int64_t r = 0; r < rows; ++r)
    text += "{\"row\":" + std::to_string(r) + ",\"id\":\"" + ids[r % 5] + "\",\"meta\":{}}\n";
  write_file(side, text);
}

bool mentions(const FileComparison& c, const std::string& s) {
  for (const auto& m : c.mismatches)
    if (m.where.find(s) != std::string::npos || m.detail.find(s) != std::string::npos ||
        m.id.find(s) != std::string::npos)
      return true;
  return c.note.find(s) != std::string::npos;
}

}  // namespace

TEST_CASE("npy: identical arrays match, row by row") {
  TempDir dir;
  write_rows(dir.file("g.npy"), base_values());
  write_rows(dir.file("c.npy"), base_values());
  FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{});
  CHECK(c.ok());
  CHECK(c.units == 3);
  CHECK(c.mismatch_count == 0);
}

TEST_CASE("npy: a value moved beyond atol is reported with its row, item id and element") {
  TempDir dir;
  auto v = base_values();
  write_rows(dir.file("g.npy"), v);
  v[1 * 4 + 2] += 1e-3f;  // row 1, element 2
  write_rows(dir.file("c.npy"), v);
  FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{0.9999, 1e-5, 0});
  REQUIRE_FALSE(c.ok());
  REQUIRE(c.mismatch_count == 1);
  REQUIRE(c.mismatches.size() == 1);
  CHECK(c.mismatches[0].where == "row 1");
  CHECK(c.mismatches[0].id == "b.wav");
  CHECK_THAT(c.mismatches[0].detail, Catch::Contains("[1, 2]"));
  CHECK_THAT(c.mismatches[0].detail, Catch::Contains("golden -0.5"));
  // The cosine of that row is still ~1: the atol check is what caught it.
  CHECK_THAT(c.mismatches[0].detail, Catch::Contains("1 of 4 values beyond atol"));
}

TEST_CASE("npy: differences inside atol pass, and rtol widens the band for large values") {
  TempDir dir;
  auto v = base_values();
  write_rows(dir.file("g.npy"), v);
  auto near = v;
  for (auto& x : near) x += 4e-6f;
  write_rows(dir.file("near.npy"), near);
  CHECK(compare_npy(dir.file("g.npy"), dir.file("near.npy"), Tolerance{0.9999, 1e-5, 0}).ok());
  CHECK_FALSE(
      compare_npy(dir.file("g.npy"), dir.file("near.npy"), Tolerance{0.9999, 1e-6, 0}).ok());

  auto scaled = v;
  for (auto& x : scaled) x *= 1.001f;  // 0.1% relative change, cosine exactly 1
  write_rows(dir.file("scaled.npy"), scaled);
  CHECK_FALSE(
      compare_npy(dir.file("g.npy"), dir.file("scaled.npy"), Tolerance{0.9999, 1e-5, 0}).ok());
  CHECK(compare_npy(dir.file("g.npy"), dir.file("scaled.npy"), Tolerance{0.9999, 1e-5, 2e-3}).ok());
}

TEST_CASE("npy: a row pointing elsewhere fails min_cosine even when atol is loose") {
  TempDir dir;
  auto v = base_values();
  write_rows(dir.file("g.npy"), v);
  // Row 2 = (-2, 1, 0.125, -0.75) → swap its first two values: cosine well below 0.9999.
  std::swap(v[8], v[9]);
  write_rows(dir.file("c.npy"), v);
  FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{0.9999, 10.0, 0});
  REQUIRE(c.mismatch_count == 1);
  CHECK(c.mismatches[0].where == "row 2");
  CHECK(c.mismatches[0].id == "c.wav");
  CHECK_THAT(c.mismatches[0].detail, Catch::Contains("< min_cosine 0.9999"));
  // cos = (g·c)/(|g||c|) with g=(-2,1,.125,-.75), c=(1,-2,.125,-.75): (-4+.015625+.5625)/5.578125
  double expected =
      (-2.0 * 1 + 1 * -2.0 + 0.125 * 0.125 + 0.75 * 0.75) / (4 + 1 + 0.015625 + 0.5625);
  char buf[32];
  std::snprintf(buf, sizeof buf, "cosine %.9g", expected);
  CHECK_THAT(c.mismatches[0].detail, Catch::Contains(buf));
}

TEST_CASE("npy: shape, dtype and row-count changes are reported") {
  TempDir dir;
  auto v = base_values();
  write_rows(dir.file("g.npy"), v);

  SECTION("another row length") {
    write_npy(dir.file("c.npy"), Tensor::from_vector(std::vector<float>(12, 1.0f), {2, 6}));
    FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{});
    CHECK_FALSE(c.ok());
    CHECK(mentions(c, "shape changed: golden [3, 4], now [2, 6]"));
  }
  SECTION("an extra row: the common rows still compared, the extra one named") {
    auto more = v;
    for (float x : {9.f, 9.f, 9.f, 9.f}) more.push_back(x);
    write_rows(dir.file("c.npy"), more, 4);
    FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{});
    REQUIRE(c.mismatch_count == 1);
    CHECK(c.mismatches[0].where == "row 3");
    CHECK_THAT(c.mismatches[0].detail, Catch::Contains("extra"));
    CHECK_THAT(c.note, Catch::Contains("[4, 4]"));
    CHECK(c.units == 3);
  }
  SECTION("a missing row keeps the golden's id") {
    write_rows(dir.file("c.npy"), std::vector<float>(v.begin(), v.begin() + 8), 2);
    FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{});
    REQUIRE(c.mismatch_count == 1);
    CHECK(c.mismatches[0].where == "row 2");
    CHECK(c.mismatches[0].id == "c.wav");
    CHECK_THAT(c.mismatches[0].detail, Catch::Contains("missing"));
  }
  SECTION("another dtype") {
    write_npy(dir.file("c.npy"), Tensor::from_vector(std::vector<int64_t>(12, 1), {3, 4}));
    CHECK(mentions(compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{}),
                   "dtype changed: golden float32, now int64"));
  }
  SECTION("an unreadable file") {
    write_file(dir.file("c.npy"), "not an npy");
    FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{});
    CHECK_FALSE(c.ok());
    CHECK(mentions(c, "cannot read this run's file"));
  }
}

TEST_CASE("npy: uint8 and int64 arrays compare exactly, whatever the tolerance") {
  TempDir dir;
  std::vector<uint8_t> px = {0, 10, 20, 30, 40, 50};
  write_npy(dir.file("g.npy"), Tensor::from_vector(px, {2, 3}));
  px[4] = 41;
  write_npy(dir.file("c.npy"), Tensor::from_vector(px, {2, 3}));
  FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{0.0, 100.0, 1.0});
  REQUIRE(c.mismatch_count == 1);
  CHECK(c.mismatches[0].where == "row 1");
  CHECK_THAT(c.mismatches[0].detail, Catch::Contains("first at [1, 1] (golden 40, now 41)"));
}

TEST_CASE("npy: NaN matches NaN at the same place, not a number") {
  TempDir dir;
  auto v = base_values();
  v[5] = NAN;
  write_rows(dir.file("g.npy"), v);
  write_rows(dir.file("same.npy"), v);
  CHECK(compare_npy(dir.file("g.npy"), dir.file("same.npy"), Tolerance{}).ok());
  auto w = v;
  w[5] = 0.75f;
  write_rows(dir.file("c.npy"), w);
  FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{});
  REQUIRE(c.mismatch_count == 1);
  CHECK(c.mismatches[0].where == "row 1");
}

TEST_CASE("npy: only the first max_report mismatches are listed, all are counted") {
  TempDir dir;
  std::vector<float> g(40 * 2, 1.0f), cur(40 * 2, 2.0f);
  write_npy(dir.file("g.npy"), Tensor::from_vector(g, {40, 2}));
  write_npy(dir.file("c.npy"), Tensor::from_vector(cur, {40, 2}));
  FileComparison c = compare_npy(dir.file("g.npy"), dir.file("c.npy"), Tolerance{}, 5);
  CHECK(c.mismatch_count == 40);
  CHECK(c.mismatches.size() == 5);
  CHECK(c.mismatches[4].where == "row 4");
  CHECK(c.mismatches[0].id.empty());  // no sidecar: no ids to give
}

TEST_CASE("npy: arrays written by numpy itself are read and compared") {
  TempDir dir;
  // numpy writes the golden; row 1 of the current copy is perturbed by 0.01 in numpy too.
  std::string script =
      "import numpy as np; a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7; "
      "np.save('" +
      dir.file("g.npy") + "', a); a[1, 3] += 0.5; np.save('" + dir.file("c.npy") + "', a)";
  auto r = run_command(std::string(EMBEDFLOW_REFERENCE_PYTHON) + " -c \"" + script + "\"");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  FileComparison c = compare_file(dir.file("g.npy"), dir.file("c.npy"), Tolerance{});
  REQUIRE(c.mismatch_count == 1);
  CHECK(c.mismatches[0].where == "row 1");
  CHECK_THAT(c.mismatches[0].detail, Catch::Contains("at [1, 3]"));
  CHECK_THAT(c.mismatches[0].detail, Catch::Contains("max |Δ| 0.5"));
}

TEST_CASE("jsonl: ids, strings and metadata exact, numbers within atol") {
  TempDir dir;
  const std::string golden =
      "{\"id\":\"a\",\"source\":\"x.txt:1\",\"record\":{\"words\":2,\"score\":0.5},"
      "\"meta\":{\"lang\":\"en\"}}\n"
      "{\"id\":\"b\",\"source\":\"x.txt:2\",\"record\":{\"words\":3,\"score\":0.25},"
      "\"meta\":{\"lang\":\"de\"}}\n";
  write_file(dir.file("g.jsonl"), golden);
  Tolerance tol{0.9999, 1e-5, 0};

  SECTION("same lines, another key order and a number moved inside atol") {
    write_file(dir.file("c.jsonl"),
               "{\"source\":\"x.txt:1\",\"id\":\"a\",\"record\":{\"score\":0.500004,\"words\":2},"
               "\"meta\":{\"lang\":\"en\"}}\n"
               "{\"id\":\"b\",\"source\":\"x.txt:2\",\"record\":{\"words\":3,\"score\":0.25},"
               "\"meta\":{\"lang\":\"de\"}}\n");
    FileComparison c = compare_jsonl(dir.file("g.jsonl"), dir.file("c.jsonl"), tol);
    CHECK(c.ok());
    CHECK(c.units == 2);
  }
  SECTION("a number beyond atol") {
    write_file(dir.file("c.jsonl"),
               golden.substr(0, golden.find('\n') + 1) +
                   "{\"id\":\"b\",\"source\":\"x.txt:2\",\"record\":{"
                   "\"words\":3,\"score\":0.2501},\"meta\":{\"lang\":\"de\"}}\n");
    FileComparison c = compare_jsonl(dir.file("g.jsonl"), dir.file("c.jsonl"), tol);
    REQUIRE(c.mismatch_count == 1);
    CHECK(c.mismatches[0].where == "line 2");
    CHECK(c.mismatches[0].id == "b");
    CHECK_THAT(c.mismatches[0].detail, Catch::Contains("'record.score': golden 0.25, now 0.2501"));
  }
  SECTION("integers are exact") {
    std::string g2 = golden;
    g2.replace(g2.find("\"words\":3"), 9, "\"words\":4");
    write_file(dir.file("c.jsonl"), g2);
    FileComparison c = compare_jsonl(dir.file("g.jsonl"), dir.file("c.jsonl"), Tolerance{0, 10, 0});
    REQUIRE(c.mismatch_count == 1);
    CHECK_THAT(c.mismatches[0].detail, Catch::Contains("'record.words': golden 3, now 4"));
  }
  SECTION("a changed id") {
    std::string g2 = golden;
    g2.replace(g2.find("\"id\":\"b\""), 8, "\"id\":\"B\"");
    write_file(dir.file("c.jsonl"), g2);
    FileComparison c = compare_jsonl(dir.file("g.jsonl"), dir.file("c.jsonl"), tol);
    REQUIRE(c.mismatch_count == 1);
    CHECK(c.mismatches[0].where == "line 2");
    CHECK(c.mismatches[0].id == "b");  // the golden's id: what the line should be
    CHECK_THAT(c.mismatches[0].detail, Catch::Contains("'id': golden \"b\", now \"B\""));
  }
  SECTION("changed metadata, a missing key and a new key") {
    write_file(dir.file("c.jsonl"),
               "{\"id\":\"a\",\"source\":\"x.txt:1\",\"record\":{\"words\":2,\"score\":0.5},"
               "\"meta\":{\"lang\":\"fr\"}}\n"
               "{\"id\":\"b\",\"record\":{\"words\":3,\"score\":0.25},"
               "\"meta\":{\"lang\":\"de\",\"extra\":1}}\n");
    FileComparison c = compare_jsonl(dir.file("g.jsonl"), dir.file("c.jsonl"), tol);
    REQUIRE(c.mismatch_count == 2);
    CHECK(c.mismatches[0].id == "a");
    CHECK_THAT(c.mismatches[0].detail, Catch::Contains("'meta.lang': golden \"en\", now \"fr\""));
    CHECK_THAT(c.mismatches[1].detail, Catch::Contains("key 'source' missing"));
    CHECK_THAT(c.mismatches[1].detail, Catch::Contains("key 'meta.extra' is new"));
  }
  SECTION("an extra line and a missing line") {
    write_file(dir.file("extra.jsonl"), golden + "{\"id\":\"c\"}\n");
    FileComparison e = compare_jsonl(dir.file("g.jsonl"), dir.file("extra.jsonl"), tol);
    REQUIRE(e.mismatch_count == 1);
    CHECK(e.mismatches[0].where == "line 3");
    CHECK(e.mismatches[0].id == "c");
    CHECK_THAT(e.mismatches[0].detail, Catch::Contains("extra"));
    write_file(dir.file("short.jsonl"), golden.substr(0, golden.find('\n') + 1));
    FileComparison m = compare_jsonl(dir.file("g.jsonl"), dir.file("short.jsonl"), tol);
    REQUIRE(m.mismatch_count == 1);
    CHECK(m.mismatches[0].id == "b");
    CHECK_THAT(m.mismatches[0].detail, Catch::Contains("missing"));
  }
}

TEST_CASE("jsonl: arrays of numbers are compared like npy rows") {
  TempDir dir;
  write_file(dir.file("g.jsonl"), "{\"id\":\"a\",\"tensor\":[0.5,-1.0,2.0],\"shape\":[3]}\n");
  write_file(dir.file("near.jsonl"),
             "{\"id\":\"a\",\"tensor\":[0.500001,-1.0,2.0],\"shape\":[3]}\n");
  write_file(dir.file("far.jsonl"), "{\"id\":\"a\",\"tensor\":[0.5,-1.0,2.5],\"shape\":[3]}\n");
  write_file(dir.file("shape.jsonl"), "{\"id\":\"a\",\"tensor\":[0.5,-1.0,2.0],\"shape\":[1,3]}\n");
  Tolerance tol{0.9999, 1e-5, 0};
  CHECK(compare_jsonl(dir.file("g.jsonl"), dir.file("near.jsonl"), tol).ok());
  FileComparison far = compare_jsonl(dir.file("g.jsonl"), dir.file("far.jsonl"), tol);
  REQUIRE(far.mismatch_count == 1);
  CHECK_THAT(far.mismatches[0].detail, Catch::Contains("'tensor': 1 of 3 values beyond atol"));
  CHECK_THAT(far.mismatches[0].detail, Catch::Contains("at [2] (golden 2, now 2.5)"));
  FileComparison shape = compare_jsonl(dir.file("g.jsonl"), dir.file("shape.jsonl"), tol);
  REQUIRE(shape.mismatch_count == 1);
  CHECK_THAT(shape.mismatches[0].detail, Catch::Contains("'shape': golden has 1 elements, now 2"));
}

TEST_CASE("csv: header exact, cells exact or numerically within atol") {
  TempDir dir;
  const std::string golden =
      "id,text,score\r\n"
      "a,\"hello, world\",0.5\r\n"
      "b,\"two\r\nlines \"\"quoted\"\"\",0.25\r\n";
  write_file(dir.file("g.csv"), golden);
  Tolerance tol{0.9999, 1e-5, 0};

  SECTION("LF line ends and a number inside atol match") {
    write_file(
        dir.file("c.csv"),
        "id,text,score\na,\"hello, world\",0.500001\nb,\"two\r\nlines \"\"quoted\"\"\",0.25\n");
    FileComparison c = compare_csv(dir.file("g.csv"), dir.file("c.csv"), tol);
    CHECK(c.ok());
    CHECK(c.units == 2);
  }
  SECTION("a changed quoted cell and a number beyond atol") {
    write_file(dir.file("c.csv"),
               "id,text,score\r\na,\"hello, world\",0.51\r\nb,\"two\r\nlines\",0.25\r\n");
    FileComparison c = compare_csv(dir.file("g.csv"), dir.file("c.csv"), tol);
    REQUIRE(c.mismatch_count == 2);
    CHECK(c.mismatches[0].where == "row 0");
    CHECK(c.mismatches[0].id == "a");
    CHECK_THAT(c.mismatches[0].detail,
               Catch::Contains("column 'score': golden \"0.5\", now \"0.51\""));
    CHECK(c.mismatches[1].id == "b");
    CHECK_THAT(c.mismatches[1].detail, Catch::Contains("column 'text'"));
  }
  SECTION("a changed header") {
    write_file(dir.file("c.csv"),
               "id,text,similarity\r\na,\"hello, world\",0.5\r\n"
               "b,\"two\r\nlines \"\"quoted\"\"\",0.25\r\n");
    FileComparison c = compare_csv(dir.file("g.csv"), dir.file("c.csv"), tol);
    REQUIRE(c.mismatch_count == 1);
    CHECK(c.mismatches[0].where == "header");
    CHECK_THAT(c.mismatches[0].detail, Catch::Contains("'score'"));
  }
  SECTION("semicolon-separated files are read with their own delimiter") {
    write_file(dir.file("g2.csv"), "id;score\r\na;1,5\r\n");
    write_file(dir.file("c2.csv"), "id;score\r\na;1,6\r\n");
    FileComparison c = compare_csv(dir.file("g2.csv"), dir.file("c2.csv"), tol);
    REQUIRE(c.mismatch_count == 1);
    CHECK_THAT(c.mismatches[0].detail, Catch::Contains("golden \"1,5\", now \"1,6\""));
  }
}

TEST_CASE("other files, PNGs included, are compared byte for byte") {
  TempDir dir;
  write_file(dir.file("g.png"), std::string("\x89PNG\r\n\x1a\nabcdef", 14));
  write_file(dir.file("same.png"), std::string("\x89PNG\r\n\x1a\nabcdef", 14));
  write_file(dir.file("c.png"), std::string("\x89PNG\r\n\x1a\nabXdef", 14));
  CHECK(compare_file(dir.file("g.png"), dir.file("same.png"), Tolerance{}).ok());
  FileComparison c = compare_file(dir.file("g.png"), dir.file("c.png"), Tolerance{});
  REQUIRE(c.mismatch_count == 1);
  CHECK(c.kind == "bytes");
  CHECK(c.mismatches[0].where == "byte 10");
  CHECK_THAT(c.note, Catch::Contains("byte for byte"));
}
