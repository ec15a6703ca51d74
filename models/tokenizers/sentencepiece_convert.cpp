// A SentencePiece .model as transformers' XLMRobertaConverter turns it into a tokenizer.json
// (the fast tokenizer a user of such a folder gets from AutoTokenizer):
//   - model: Unigram over the model's pieces and scores, in fairseq's id layout: <s> <pad> </s>
//     <unk> first, then the SentencePiece pieces after its own three control pieces (id + 1),
//     then <mask>; unk_id 3; byte_fallback as the model was trained;
//   - normalizer: Precompiled (the model's own charsmap), then runs of spaces made one;
//   - pre-tokenizer: Metaspace ("▁", prepended always when the model adds a dummy prefix);
//   - post-processor: <s> $A </s>; <mask> an added token that strips the space before it.
//
// The file is a serialised ModelProto (sentencepiece_model.proto). It is read here, walking only
// the protobuf fields named below, and not with libsentencepiece: Debian's libsentencepiece
// exports the copy of protobuf-lite it was built with, and a process that also loads libtorch's
// libprotobuf crashes before main() (protobuf's start-up code binds to sentencepiece's copy).
// The library stays the reference: tests/tokenizers/sentencepiece_test.cpp checks every piece,
// score and type read here against libsentencepiece's, in a test binary without libtorch.
#include "models/tokenizers/sentencepiece_convert.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "models/tokenizers/unicode.h"

namespace embedflow::tokenizers {

namespace {

// A cursor over protobuf wire format: tag, then a varint, fixed or length-delimited value.
class Wire {
 public:
  explicit Wire(std::string_view bytes) : p_(bytes) {}
  bool done() const { return p_.empty(); }

  // Reads the next field; false at the end. Throws std::runtime_error on malformed bytes.
  bool next(uint32_t& field, uint32_t& type, uint64_t& value, std::string_view& bytes) {
    if (p_.empty()) return false;
    uint64_t tag = varint();
    field = static_cast<uint32_t>(tag >> 3);
    type = static_cast<uint32_t>(tag & 7);
    switch (type) {
      case 0:
        value = varint();
        break;
      case 1:
        take(8);
        break;
      case 2: {
        uint64_t n = varint();
        if (n > p_.size()) throw std::runtime_error("a field runs past the end of the model");
        bytes = p_.substr(0, static_cast<size_t>(n));
        take(static_cast<size_t>(n));
        break;
      }
      case 5:
        if (p_.size() < 4) throw std::runtime_error("a field runs past the end of the model");
        bytes = p_.substr(0, 4);
        take(4);
        break;
      default:
        throw std::runtime_error("unknown protobuf wire type " + std::to_string(type));
    }
    return true;
  }

 private:
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_.empty()) throw std::runtime_error("truncated varint");
      auto b = static_cast<uint8_t>(p_[0]);
      p_.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::runtime_error("varint longer than 10 bytes");
  }
  void take(size_t n) {
    if (n > p_.size()) throw std::runtime_error("a field runs past the end of the model");
    p_.remove_prefix(n);
  }
  std::string_view p_;
};

SentencePieceFile parse_model(const std::string& serialized) {
  SentencePieceFile s;
  Wire model(serialized);
  uint32_t field = 0, type = 0;
  uint64_t value = 0;
  std::string_view bytes;
  while (model.next(field, type, value, bytes)) {
    if (type != 2) continue;
    if (field == 1) {  // SentencePiece
      Wire p(bytes);
      std::string_view inner;
      SentencePieceFile::Piece piece;
      while (p.next(field, type, value, inner)) {
        if (field == 1 && type == 2) piece.piece = std::string(inner);
        if (field == 2 && type == 5) std::memcpy(&piece.score, inner.data(), 4);
        if (field == 3 && type == 0) piece.type = static_cast<int>(value);
      }
      s.pieces.push_back(std::move(piece));
    } else if (field == 2) {  // TrainerSpec
      Wire t(bytes);
      std::string_view inner;
      while (t.next(field, type, value, inner)) {
        if (field == 3 && type == 0) s.model_type = static_cast<int>(value);
        if (field == 35 && type == 0) s.byte_fallback = value != 0;
      }
    } else if (field == 3) {  // NormalizerSpec
      Wire n(bytes);
      std::string_view inner;
      while (n.next(field, type, value, inner)) {
        if (field == 1 && type == 2) s.normalizer_name = std::string(inner);
        if (field == 2 && type == 2) s.charsmap = std::string(inner);
        if (field == 3 && type == 0) s.add_dummy_prefix = value != 0;
      }
    }
  }
  return s;
}

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Json special(const std::string& content, int32_t id, bool lstrip = false) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", lstrip},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

}  // namespace

SentencePieceFile read_sentencepiece_file(const std::string& model_path) {
  std::ifstream in(model_path, std::ios::binary);
  if (!in) throw TokenizerConfigError(model_path, "", "cannot read the file");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  SentencePieceFile file;
  try {
    file = parse_model(bytes.str());
  } catch (const std::runtime_error& e) {
    throw TokenizerConfigError(model_path, "",
                               std::string("not a SentencePiece model: ") + e.what());
  }
  if (file.pieces.empty())
    throw TokenizerConfigError(model_path, "", "not a SentencePiece model: it has no pieces");
  for (const auto& p : file.pieces)
    if (p.piece.empty() || !is_valid_utf8(p.piece))
      throw TokenizerConfigError(model_path, "",
                                 "not a SentencePiece model: a piece is empty or not UTF-8");
  return file;
}

Json sentencepiece_tokenizer_json(const std::string& model_path, const Json& config) {
  (void)config;
  const SentencePieceFile settings = read_sentencepiece_file(model_path);
  if (settings.model_type != 1)
    throw TokenizerConfigError(
        model_path, "",
        "a SentencePiece " + std::string(settings.model_type == 2 ? "BPE" : "word or char") +
            " model: only Unigram models (XLM-R's layout) are converted; use the folder's "
            "tokenizer.json");
  const auto& pieces = settings.pieces;
  const int n = static_cast<int>(pieces.size());
  if (n < 4 || pieces[0].type != 2 || pieces[1].type != 3 || pieces[2].type != 3)
    throw TokenizerConfigError(model_path, "",
                               "expected XLM-R's SentencePiece layout (<unk> <s> </s> as pieces "
                               "0, 1, 2); use the folder's tokenizer.json");

  // fairseq's layout: four specials, the pieces after SentencePiece's three control pieces, mask.
  Json vocab = Json::array({{"<s>", 0.0}, {"<pad>", 0.0}, {"</s>", 0.0}, {"<unk>", 0.0}});
  for (int id = 3; id < n; ++id)
    vocab.push_back({pieces[static_cast<size_t>(id)].piece,
                     static_cast<double>(pieces[static_cast<size_t>(id)].score)});
  const int32_t mask_id = static_cast<int32_t>(vocab.size());
  vocab.push_back({"<mask>", 0.0});

  Json root;
  Json normalizers = Json::array();
  if (!settings.charsmap.empty())
    normalizers.push_back(
        {{"type", "Precompiled"}, {"precompiled_charsmap", base64(settings.charsmap)}});
  normalizers.push_back({{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}});
  root["normalizer"] = {{"type", "Sequence"}, {"normalizers", normalizers}};
  root["pre_tokenizer"] = {{"type", "Metaspace"},
                           {"replacement", "\u2581"},
                           {"prepend_scheme", settings.add_dummy_prefix ? "always" : "never"},
                           {"split", true}};
  root["model"] = {{"type", "Unigram"},
                   {"unk_id", 3},
                   {"vocab", vocab},
                   {"byte_fallback", settings.byte_fallback}};
  root["post_processor"] = {{"type", "TemplateProcessing"},
                            {"single",
                             {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                              {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
                            {"pair", Json::array()},
                            {"special_tokens",
                             {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}},
                              {"</s>", {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}}}}}};
  root["added_tokens"] = {special("<s>", 0), special("<pad>", 1), special("</s>", 2),
                          special("<unk>", 3), special("<mask>", mask_id, true)};
  root["padding"] = {{"pad_id", 1}};
  return root;
}

}  // namespace embedflow::tokenizers
