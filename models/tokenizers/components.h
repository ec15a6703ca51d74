// The parts a tokenizer.json is made of, as Hugging Face `tokenizers` composes them:
//
//   text ─ added tokens split off ─ Normalizer ─ PreTokenizer ─ Model ─ PostProcessor ─ ids
//
// Each part is an interface here, with one factory per family that reads the part's JSON object
// the way HF deserialises it (normalizers.cpp, pre_tokenizers.cpp, models_*.cpp,
// post_processors.cpp). A factory refuses a type or option it does not implement with a
// TokenizerConfigError naming the JSON path: it never approximates one silently.
//
// Offsets: every code point of a NormalizedText remembers the byte range of the original text it
// came from, so tokens can report where they are in what the user wrote.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace embedflow::tokenizers {

using Json = nlohmann::json;

// A tokenizer file or folder that cannot be used as it is: `path` is a JSON pointer into the
// file ("/normalizer/normalizers/2/type"), empty when the error is about the file as a whole.
class TokenizerConfigError : public std::runtime_error {
 public:
  TokenizerConfigError(std::string file, std::string path, const std::string& message)
      : std::runtime_error(file + (path.empty() ? "" : " at " + path) + ": " + message),
        file_(std::move(file)),
        path_(std::move(path)) {}
  const std::string& file() const { return file_; }
  const std::string& json_path() const { return path_; }

 private:
  std::string file_, path_;
};

// Where a factory is reading: the file (for messages) and the JSON pointer of the object.
struct JsonSite {
  std::string file;
  std::string path;  // JSON pointer, "" for the root

  JsonSite at(std::string_view key) const { return {file, path + "/" + std::string(key)}; }
  JsonSite at(size_t index) const { return {file, path + "/" + std::to_string(index)}; }
  [[noreturn]] void fail(const std::string& message) const {
    throw TokenizerConfigError(file, path, message);
  }
};

// Checked field access for the factories: a missing or mistyped field is a TokenizerConfigError
// at its path. `object` must be a JSON object (checked by require_object).
const Json& require_object(const Json& value, const JsonSite& site);
const Json& require_field(const Json& object, std::string_view key, const JsonSite& site);
std::string string_field(const Json& object, std::string_view key, const JsonSite& site);
bool bool_field(const Json& object, std::string_view key, const JsonSite& site, bool fallback);
// A JSON integer >= 0 that fits an int32 token id (nlohmann keeps parsed non-negative integers
// unsigned and ones set from code signed: both count).
inline bool is_token_id(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= 0x7FFFFFFF;
  return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= 0x7FFFFFFF;
}
inline bool is_non_negative_integer(const Json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

// Refuses any key of `object` outside `known` ("type" is always allowed): HF ignores unknown
// keys, but an option we do not know may change ids, so it is an error naming it.
void reject_unknown_fields(const Json& object, std::initializer_list<std::string_view> known,
                           const JsonSite& site);

// The parts of a Sequence component: `object[key]` must be a list, each item built by `make`
// (make_normalizer, make_pre_tokenizer, make_post_processor) at its own path.
template <class Part, class Make>
std::vector<std::unique_ptr<Part>> make_parts(const Json& object, std::string_view key,
                                              const JsonSite& site, Make&& make) {
  const JsonSite list_site = site.at(key);
  const Json& list = require_field(object, key, site);
  if (!list.is_array()) list_site.fail("expected a list");
  std::vector<std::unique_ptr<Part>> parts;
  parts.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) parts.push_back(make(list[i], list_site.at(i)));
  return parts;
}

// A JSON number as HF `tokenizers` reads it: serde_json without its float_roundtrip feature
// computes significand × or ÷ a power of ten in doubles, which is not always the nearest double
// to the text (-9.754725456237793 reads as -9.754725456237791). Unigram scores decide Viterbi
// ties with their last bits, so the engine reads them the same way. `value` is the number as
// nlohmann parsed it (correctly rounded); its shortest text is what HF's writer put in the file.
double hf_json_f64(double value);

// Text being normalised: code points, and for each the byte range [start, end) of the original
// UTF-8 text it came from. A code point inserted by a normaliser takes the range of the one it
// was derived from; one composed from several takes its first one's (as HF's offsets do).
struct NormalizedText {
  std::u32string chars;
  std::vector<std::pair<uint32_t, uint32_t>> align;  // same length as chars

  // Decodes UTF-8 (throws std::invalid_argument naming the byte offset of an invalid sequence);
  // `base` is added to every offset (the position of `utf8` in the whole text).
  static NormalizedText from_utf8(std::string_view utf8, uint32_t base = 0);
  std::string utf8() const;
  size_t size() const { return chars.size(); }
  bool empty() const { return chars.empty(); }
  // Code points [begin, end) with their alignment.
  NormalizedText slice(size_t begin, size_t end) const;
  void push_back(char32_t c, std::pair<uint32_t, uint32_t> a) {
    chars.push_back(c);
    align.push_back(a);
  }
  // Original byte range covered by code points [begin, end) (end > begin).
  std::pair<uint32_t, uint32_t> original_range(size_t begin, size_t end) const {
    return {align[begin].first, align[end - 1].second};
  }
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedText& text) const = 0;
};

// A pre-token: a piece of normalised text, or an added token already matched (id >= 0), which
// pre-tokenizers and the model pass through untouched.
struct PreToken {
  NormalizedText text;
  int32_t added_id = -1;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits (and may rewrite, as ByteLevel does) one piece, appending the results to `out`.
  // Empty pieces are dropped, as HF drops them.
  virtual void split(NormalizedText piece, std::vector<NormalizedText>& out) const = 0;
};

// One token of an encoding.
struct Token {
  int32_t id = 0;
  uint32_t start = 0, end = 0;  // byte range in the original text
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of one pre-token. A BPE without unk token drops a symbol it does not know,
  // as HF does; a model whose unk token is missing from its vocabulary throws
  // std::invalid_argument when it needs it (HF errors there too).
  virtual void tokenize(const NormalizedText& piece, std::vector<Token>& out) const = 0;
  virtual int32_t token_to_id(std::string_view token) const = 0;  // -1 when absent
  virtual const std::string* id_to_token(int32_t id) const = 0;   // nullptr when absent
  virtual size_t vocab_size() const = 0;
};

// One sequence after the model: what a post-processor turns into the final encoding.
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<std::pair<uint32_t, uint32_t>> offsets;
  std::vector<uint8_t> special;  // 1 for tokens a post-processor added
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // How many tokens process() adds to a single sequence (truncation leaves room for them).
  virtual size_t added_tokens() const = 0;
  // Adds special tokens around a single sequence (and ByteLevel's offset trimming), in place.
  // `model` gives the tokens' strings (ByteLevel trims offsets by the "Ġ" they hold);
  // `original` is the text the offsets point into.
  virtual void process(Encoding& encoding, const Model& model, std::string_view original) const = 0;
};

// Factories: `value` is the component's JSON object (never null; the caller handles a null
// component). `model` gives post-processors and added tokens their ids.
std::unique_ptr<Normalizer> make_normalizer(const Json& value, const JsonSite& site);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& value, const JsonSite& site);
std::unique_ptr<Model> make_model(const Json& value, const JsonSite& site);
std::unique_ptr<PostProcessor> make_post_processor(const Json& value, const JsonSite& site);

}  // namespace embedflow::tokenizers
