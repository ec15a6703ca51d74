#include "stages/text/tokenize.h"

#include <filesystem>
#include <string>

#include "embedflow/errors.h"
#include "embedflow/hub/cache.h"
#include "models/tokenizers/openai_clip_text.h"
#include "models/tokenizers/python_text.h"

namespace embedflow {

StageSchema text_tokenize_schema() {
  StageSchema s;
  s.type = "text.tokenize";
  s.kind = StageKind::Map;
  s.summary = "The ids, tokens and offsets a model's tokenizer gives each text";
  s.doc =
      "Reads the tokenizer of a model folder as `encode.text` and `encode.clip_text` do: "
      "tokenizer.json (normalizer, pre-tokenizer, WordPiece/BPE/Unigram model, post-processor "
      "and added tokens, with Hugging Face `tokenizers`' ids), else vocab.txt, vocab.json + "
      "merges.txt, or a SentencePiece .model. The record has `ids`, `tokens`, `offsets` (byte "
      "ranges `[start, end)` of the UTF-8 text; `[0, 0]` for added special tokens), `special` "
      "(1 for the tokens the post-processor added), `count` and `truncated`. Text that is not "
      "valid UTF-8 fails that item.\n\n"
      "`strip: true` applies Python's str.strip() first, as sentence-transformers (and so "
      "`encode.text`) does; `text_cleaning: openai` applies OpenAI's clip.tokenize cleaning, as "
      "`encode.clip_text` does with the same setting.";
  s.inputs = {{"in", {Kind::Text}, "Texts"}};
  s.output = Kind::Record;
  s.default_concurrency = 0;
  s.params = {
      ParamSpec::model_path("model").require().describe(
          "A model folder, a tokenizer.json file, or a cached hub id (org/name[@revision])."),
      ParamSpec::integer("max_length", 0)
          .range(0, std::nullopt)
          .describe("Truncate to this many ids, special tokens included (HF's truncation=True, "
                    "max_length=N); 0: only the tokenizer.json's own truncation, if any."),
      ParamSpec::boolean("add_special_tokens", true)
          .describe("Add the post-processor's special tokens ([CLS] … [SEP], <s> … </s>)."),
      ParamSpec::boolean("strip", false)
          .describe("Strip leading and trailing whitespace first (Python's str.strip(), as "
                    "sentence-transformers does)."),
      ParamSpec::enumeration("text_cleaning", "none", {"none", "openai"})
          .describe("openai: OpenAI's clip.tokenize cleaning before the tokenizer."),
      ParamSpec::boolean("tokens", true)
          .describe("Include the token strings and offsets; false: ids and counts only."),
  };
  return s;
}

TextTokenize::TextTokenize(const Params& params)
    : params_(params),
      max_length_(static_cast<size_t>(params.get_int("max_length"))),
      add_special_tokens_(params.get_bool("add_special_tokens")),
      strip_(params.get_bool("strip")),
      openai_cleaning_(params.get_string("text_cleaning") == "openai"),
      with_tokens_(params.get_bool("tokens")) {}

void TextTokenize::open(const StageContext& ctx) {
  (void)ctx;
  const std::string spec = params_.get_string("model");
  try {
    const std::string path = hub::resolve_model_path(spec);
    if (std::filesystem::is_regular_file(path))
      tokenizer_ = tokenizers::Tokenizer::from_file(path);
    else
      tokenizer_ = tokenizers::Tokenizer::from_folder(path);
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw params_.error("model", e.what());
  }
}

void TextTokenize::process(const Item& in, Item& out) {
  std::string text = in.text;
  try {
    if (strip_) text = tokenizers::strip_python_whitespace(text);
    if (openai_cleaning_) text = tokenizers::clip_clean_text(text);
    const size_t limit = max_length_ ? max_length_ : tokenizers::Tokenizer::kNoLimit;
    tokenizers::Encoding enc = tokenizer_->encode(text, limit, add_special_tokens_);
    bool truncated = false;
    if (limit != tokenizers::Tokenizer::kNoLimit || tokenizer_->truncation()) {
      // Truncated when the untruncated encoding is longer; only computed when a limit applies.
      truncated =
          tokenizer_->encode(text, tokenizers::Tokenizer::kNoTruncation, add_special_tokens_)
              .ids.size() > enc.ids.size();
    }
    out.kind = Kind::Record;
    out.record = Json::object();
    out.record["ids"] = enc.ids;
    if (with_tokens_) {
      Json tokens = Json::array(), offsets = Json::array();
      for (size_t i = 0; i < enc.ids.size(); ++i) {
        tokens.push_back(tokenizer_->id_to_token(enc.ids[i]));
        offsets.push_back({enc.offsets[i].first, enc.offsets[i].second});
      }
      out.record["tokens"] = std::move(tokens);
      out.record["offsets"] = std::move(offsets);
      out.record["special"] = enc.special;
    }
    out.record["count"] = enc.ids.size();
    out.record["truncated"] = truncated;
  } catch (const std::invalid_argument& e) {
    throw ItemFailure("text.tokenize: " + std::string(e.what()));
  }
}

}  // namespace embedflow
