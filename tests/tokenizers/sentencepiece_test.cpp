// The engine's reader of SentencePiece .model files (sentencepiece_convert.cpp) against
// libsentencepiece itself, the library made for the format: every piece, score and type of the
// committed model, and the normaliser the model was trained with. This binary links no libtorch,
// so libsentencepiece's own protobuf copy can load here (see sentencepiece_convert.cpp).
#include <catch2/catch.hpp>

#include <sentencepiece_processor.h>

#include "models/tokenizers/sentencepiece_convert.h"
#include "models/tokenizers/tokenizer.h"
#include "tests/support/test_support.h"

using embedflow::test::source_path;
using embedflow::tokenizers::read_sentencepiece_file;

namespace {

const char* kModel = "tests/fixtures/tokenizers/models/spm-nmt-nfkc/sentencepiece.bpe.model";

int piece_type(const sentencepiece::SentencePieceProcessor& sp, int id) {
  if (sp.IsUnknown(id)) return 2;
  if (sp.IsControl(id)) return 3;
  if (sp.IsUnused(id)) return 5;
  if (sp.IsByte(id)) return 6;
  return 1;  // normal (libsentencepiece reports user-defined pieces as normal too)
}

}  // namespace

TEST_CASE("sentencepiece: the .model reader gives libsentencepiece's pieces and scores and types") {
  sentencepiece::SentencePieceProcessor sp;
  REQUIRE(sp.Load(source_path(kModel)).ok());
  const auto file = read_sentencepiece_file(source_path(kModel));
  REQUIRE(static_cast<int>(file.pieces.size()) == sp.GetPieceSize());
  size_t differ = 0;
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    const auto& p = file.pieces[static_cast<size_t>(id)];
    const int type = p.type == 4 ? 1 : p.type;
    if (p.piece != sp.IdToPiece(id) || p.score != sp.GetScore(id) || type != piece_type(sp, id)) {
      if (++differ <= 5)
        UNSCOPED_INFO("piece " << id << ": read " << p.piece << " " << p.score << " type " << p.type
                               << ", libsentencepiece " << sp.IdToPiece(id) << " "
                               << sp.GetScore(id) << " type " << piece_type(sp, id));
    }
  }
  CHECK(differ == 0);
  CHECK(file.model_type == 1);
  CHECK(file.normalizer_name == "nmt_nfkc");
  CHECK(file.add_dummy_prefix);
  CHECK(file.charsmap.size() > 1000);
}

TEST_CASE("sentencepiece: a file that is not a model is a config error naming it") {
  embedflow::test::TempDir dir("spm");
  embedflow::test::write_file(dir.file("sentencepiece.bpe.model"), "not a protobuf \xff\xff\xff");
  CHECK_THROWS_WITH(
      embedflow::tokenizers::Tokenizer::from_folder(dir.path()),
      Catch::Contains("sentencepiece.bpe.model") && Catch::Contains("not a SentencePiece model"));
  embedflow::test::write_file(dir.file("sentencepiece.bpe.model"), "");
  CHECK_THROWS_WITH(embedflow::tokenizers::Tokenizer::from_folder(dir.path()),
                    Catch::Contains("no pieces"));
}
