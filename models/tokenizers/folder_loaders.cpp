// Tokenizer::from_folder: a model folder's tokenizer, whichever files it was published with.
// Folders without a tokenizer.json are converted the way transformers' convert_slow_tokenizer
// converts them for the fast tokenizers, into the same JSON a tokenizer.json holds, so there is
// one reading path and one set of components.
#include <malloc.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/tokenizers/sentencepiece_convert.h"
#include "models/tokenizers/tokenizer.h"

namespace embedflow::tokenizers {

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenizerConfigError(path.string(), "", "cannot read the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json read_json(const fs::path& path) {
  try {
    return Json::parse(slurp(path));
  } catch (const Json::parse_error& e) {
    throw TokenizerConfigError(path.string(), "", std::string("not valid JSON: ") + e.what());
  }
}

// tokenizer_config.json, or an empty object. Special-token entries may be strings or
// AddedToken objects ({"content": ...}).
Json read_config(const fs::path& dir) {
  fs::path p = dir / "tokenizer_config.json";
  if (!fs::exists(p)) return Json::object();
  Json j = read_json(p);
  if (!j.is_object()) throw TokenizerConfigError(p.string(), "", "expected a JSON object");
  return j;
}

std::string config_token(const Json& config, const char* key, const std::string& fallback) {
  if (!config.contains(key)) return fallback;
  const Json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return fallback;
}

Json added_token(const std::string& content, int32_t id, bool lstrip = false) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", lstrip},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

// BertTokenizerFast (and its DistilBERT and MPNet kin) rebuild the normaliser when
// tokenizer_config.json — or, for keys it lacks, the class's defaults (lower-case, accents
// follow lower-casing, CJK spacing) — disagree with tokenizer.json's BertNormalizer. The class is
// tokenizer_config.json's tokenizer_class, else the one config.json's model_type implies, as
// transformers' AutoTokenizer picks it; other classes use tokenizer.json as written.
void apply_bert_config(Json& root, const Json& config, const fs::path& dir) {
  static const char* kBertClasses[] = {"BertTokenizer",       "BertTokenizerFast",
                                       "DistilBertTokenizer", "DistilBertTokenizerFast",
                                       "MPNetTokenizer",      "MPNetTokenizerFast"};
  std::string cls = config.value("tokenizer_class", "");
  if (cls.empty() && fs::exists(dir / "config.json")) {
    Json model_config;
    try {
      model_config = Json::parse(slurp(dir / "config.json"));
    } catch (const Json::parse_error&) {
      // The model loader reports a broken config.json with its own context.
    }
    std::string type = model_config.is_object() ? model_config.value("model_type", "") : "";
    if (type == "bert" || type == "distilbert" || type == "mpnet") cls = "BertTokenizer";
  }
  if (std::find(std::begin(kBertClasses), std::end(kBertClasses), cls) == std::end(kBertClasses))
    return;
  if (!root.contains("normalizer") || !root["normalizer"].is_object() ||
      root["normalizer"].value("type", "") != "BertNormalizer")
    return;
  Json& n = root["normalizer"];
  auto flag = [&](const char* key, const Json& fallback) {
    return config.contains(key) && (config[key].is_boolean() || config[key].is_null()) ? config[key]
                                                                                       : fallback;
  };
  n["lowercase"] = flag("do_lower_case", true);
  n["strip_accents"] = flag("strip_accents", nullptr);
  n["handle_chinese_chars"] = flag("tokenize_chinese_chars", true);
}

// vocab.txt (+ tokenizer_config.json): BertTokenizerFast's conversion.
Json bert_from_vocab(const fs::path& vocab_path, const Json& config) {
  Json vocab = Json::object();
  std::ifstream in(vocab_path, std::ios::binary);
  if (!in) throw TokenizerConfigError(vocab_path.string(), "", "cannot read the file");
  std::string line;
  int32_t id = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!vocab.contains(line)) vocab[line] = id;
    ++id;
  }
  if (id == 0) throw TokenizerConfigError(vocab_path.string(), "", "the vocabulary is empty");
  std::string unk = config_token(config, "unk_token", "[UNK]");
  std::string cls = config_token(config, "cls_token", "[CLS]");
  std::string sep = config_token(config, "sep_token", "[SEP]");
  std::string pad = config_token(config, "pad_token", "[PAD]");
  std::string mask = config_token(config, "mask_token", "[MASK]");
  for (const std::string* t : {&unk, &cls, &sep})
    if (!vocab.contains(*t))
      throw TokenizerConfigError(vocab_path.string(), "",
                                 "the special token " + *t + " is not in the vocabulary");
  Json root;
  root["normalizer"] = {
      {"type", "BertNormalizer"},
      {"clean_text", true},
      {"handle_chinese_chars", config.value("tokenize_chinese_chars", true)},
      {"strip_accents", config.contains("strip_accents") ? config["strip_accents"] : Json(nullptr)},
      {"lowercase", config.value("do_lower_case", true)}};
  if (!root["normalizer"]["strip_accents"].is_boolean())
    root["normalizer"]["strip_accents"] = nullptr;
  root["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  root["model"] = {{"type", "WordPiece"},
                   {"unk_token", unk},
                   {"continuing_subword_prefix", "##"},
                   {"max_input_chars_per_word", 100},
                   {"vocab", vocab}};
  root["post_processor"] = {
      {"type", "BertProcessing"}, {"sep", {sep, vocab[sep]}}, {"cls", {cls, vocab[cls]}}};
  Json added = Json::array();
  for (const std::string& t : {pad, unk, cls, sep, mask})
    if (vocab.contains(t)) added.push_back(added_token(t, vocab[t].get<int32_t>()));
  root["added_tokens"] = added;
  if (vocab.contains(pad)) root["padding"] = {{"pad_id", vocab[pad]}};
  return root;
}

// merges.txt: one "left right" merge per line after an optional "#version" line.
Json read_merges(const fs::path& path) {
  Json merges = Json::array();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenizerConfigError(path.string(), "", "cannot read the file");
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (n == 1 && line.rfind("#version", 0) == 0) continue;
    if (line.empty()) continue;
    size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
        line.find(' ', space + 1) != std::string::npos)
      throw TokenizerConfigError(
          path.string(), "",
          "line " + std::to_string(n) + ": expected two symbols separated by one space");
    merges.push_back(line);
  }
  return merges;
}

// vocab.json + merges.txt: CLIP's, RoBERTa's or GPT-2's conversion.
Json byte_level_bpe_from_files(const fs::path& dir, const Json& config) {
  fs::path vocab_path = dir / "vocab.json";
  Json vocab = read_json(vocab_path);
  if (!vocab.is_object() || vocab.empty())
    throw TokenizerConfigError(vocab_path.string(), "", "expected an object of token → id");
  Json merges = read_merges(dir / "merges.txt");
  std::string cls_name = config.value("tokenizer_class", "");
  bool clip = cls_name.rfind("CLIPTokenizer", 0) == 0 ||
              (cls_name.empty() && vocab.contains("<|startoftext|>"));
  bool roberta = !clip && (cls_name.rfind("Roberta", 0) == 0 ||
                           (cls_name.empty() && vocab.contains("<s>") && vocab.contains("</s>")));
  auto id_of = [&](const std::string& t) -> int32_t {
    if (!vocab.contains(t))
      throw TokenizerConfigError(vocab_path.string(), "",
                                 "the special token " + t + " is not in the vocabulary");
    return vocab[t].get<int32_t>();
  };
  Json root;
  if (clip) {
    std::string bos = config_token(config, "bos_token", "<|startoftext|>");
    std::string eos = config_token(config, "eos_token", "<|endoftext|>");
    std::string unk = config_token(config, "unk_token", "<|endoftext|>");
    root["normalizer"] = {
        {"type", "Sequence"},
        {"normalizers",
         {{{"type", "NFC"}},
          {{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}},
          {{"type", "Lowercase"}}}}};
    root["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern",
            {{"Regex",
              "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|"
              "[^\\s\\p{L}\\p{N}]+"}}},
           {"behavior", "Removed"},
           {"invert", true}},
          {{"type", "ByteLevel"},
           {"add_prefix_space", false},
           {"trim_offsets", true},
           {"use_regex", false}}}}};
    root["model"] = {{"type", "BPE"},
                     {"dropout", nullptr},
                     {"unk_token", unk},
                     {"continuing_subword_prefix", ""},
                     {"end_of_word_suffix", "</w>"},
                     {"fuse_unk", false},
                     {"byte_fallback", false},
                     {"vocab", vocab},
                     {"merges", merges}};
    root["post_processor"] = {{"type", "RobertaProcessing"},
                              {"sep", {eos, id_of(eos)}},
                              {"cls", {bos, id_of(bos)}},
                              {"trim_offsets", false},
                              {"add_prefix_space", false}};
    root["added_tokens"] = {added_token(bos, id_of(bos)), added_token(eos, id_of(eos))};
    root["added_tokens"][0]["normalized"] = true;
    return root;
  }
  bool prefix_space = config.value("add_prefix_space", false);
  root["pre_tokenizer"] = {{"type", "ByteLevel"},
                           {"add_prefix_space", prefix_space},
                           {"trim_offsets", true},
                           {"use_regex", true}};
  root["model"] = {{"type", "BPE"},
                   {"dropout", nullptr},
                   {"unk_token", nullptr},
                   {"continuing_subword_prefix", ""},
                   {"end_of_word_suffix", ""},
                   {"fuse_unk", false},
                   {"byte_fallback", false},
                   {"vocab", vocab},
                   {"merges", merges}};
  Json added = Json::array();
  if (roberta) {
    std::string bos = config_token(config, "bos_token", "<s>");
    std::string eos = config_token(config, "eos_token", "</s>");
    std::string sep = config_token(config, "sep_token", "</s>");
    std::string cls = config_token(config, "cls_token", "<s>");
    std::string unk = config_token(config, "unk_token", "<unk>");
    std::string pad = config_token(config, "pad_token", "<pad>");
    std::string mask = config_token(config, "mask_token", "<mask>");
    root["post_processor"] = {{"type", "RobertaProcessing"},
                              {"sep", {sep, id_of(sep)}},
                              {"cls", {cls, id_of(cls)}},
                              {"trim_offsets", true},
                              {"add_prefix_space", prefix_space}};
    for (const std::string& t : {bos, pad, eos, unk})
      if (vocab.contains(t)) added.push_back(added_token(t, vocab[t].get<int32_t>()));
    if (vocab.contains(mask)) added.push_back(added_token(mask, vocab[mask].get<int32_t>(), true));
    if (vocab.contains(pad)) root["padding"] = {{"pad_id", vocab[pad]}};
  } else {
    root["post_processor"] = {{"type", "ByteLevel"},
                              {"add_prefix_space", prefix_space},
                              {"trim_offsets", false},
                              {"use_regex", true}};
    std::string eos = config_token(config, "eos_token", "<|endoftext|>");
    if (vocab.contains(eos)) added.push_back(added_token(eos, vocab[eos].get<int32_t>()));
  }
  root["added_tokens"] = added;
  return root;
}

}  // namespace

std::shared_ptr<const Tokenizer> Tokenizer::from_folder(const std::string& dir_text) {
  fs::path dir(dir_text);
  if (!fs::is_directory(dir))
    throw TokenizerConfigError(dir_text, "", "not a folder (expected a model folder)");
  Json config = read_config(dir);
  fs::path tj = dir / "tokenizer.json";
  if (fs::exists(tj)) {
    Json root;
    try {
      root = Json::parse(slurp(tj));
    } catch (const Json::parse_error& e) {
      throw TokenizerConfigError(tj.string(), "", std::string("not valid JSON: ") + e.what());
    }
    if (root.is_object()) apply_bert_config(root, config, dir);
    auto tokenizer = from_json_value(root, tj.string());
    root = Json();
    if (fs::file_size(tj) > (1u << 20)) malloc_trim(0);  // as from_json does, for the same reason
    return tokenizer;
  }
  if (fs::exists(dir / "vocab.txt"))
    return from_json_value(bert_from_vocab(dir / "vocab.txt", config),
                           (dir / "vocab.txt").string());
  if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt"))
    return from_json_value(byte_level_bpe_from_files(dir, config), (dir / "vocab.json").string());
  for (const char* name : {"sentencepiece.bpe.model", "spiece.model", "tokenizer.model"}) {
    if (fs::exists(dir / name)) {
      return from_json_value(sentencepiece_tokenizer_json((dir / name).string(), config),
                             (dir / name).string());
    }
  }
  throw TokenizerConfigError(dir_text, "",
                             "no tokenizer found: expected tokenizer.json, vocab.txt, "
                             "vocab.json + merges.txt, or a SentencePiece model "
                             "(sentencepiece.bpe.model, spiece.model, tokenizer.model)");
}

}  // namespace embedflow::tokenizers
