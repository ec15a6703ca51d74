// Post-processors: what HF adds around one sequence after the model (TemplateProcessing,
// BertProcessing, RobertaProcessing, ByteLevel, Sequence). Only the single-sequence form is
// used: an embedding is computed for one text at a time; a "pair" template is read and checked
// but never applied.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "models/tokenizers/components.h"

namespace embedflow::tokenizers {

namespace {

// One piece of a template: a run of special-token ids, or the sequence itself.
struct TemplatePiece {
  bool is_sequence = false;
  std::vector<int32_t> ids;  // special tokens
  int32_t type_id = 0;
};

// The leading and trailing characters of a byte-level token that stand for whitespace: "Ġ"
// (U+0120, the space byte's stand-in) or a character Rust's char::is_whitespace accepts.
bool is_space_stand_in(char32_t c) {
  return c == 0x120 || c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// One UTF-8 character forward from `pos` (or back from it), within `text`.
uint32_t next_char(std::string_view text, uint32_t pos) {
  if (pos >= text.size()) return pos;
  ++pos;
  while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
  return pos;
}
uint32_t previous_char(std::string_view text, uint32_t pos) {
  if (pos == 0) return 0;
  --pos;
  while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

// ByteLevel's offset trimming (HF's process_offsets): a token's offsets stop covering the
// whitespace its string starts or ends with, except the one prefix space ByteLevel itself added
// to the first token. HF moves the offsets by one per stand-in character; we move them by whole
// characters of the original, which is the same where the stand-in is a real space byte and
// keeps offsets on character boundaries where it is the added prefix space (HF's byte offsets
// then fall inside the first character; its character offsets agree with ours).
void trim_offsets(Encoding& encoding, const Model& model, bool add_prefix_space,
                  std::string_view original) {
  for (size_t i = 0; i < encoding.ids.size(); ++i) {
    const std::string* token = model.id_to_token(encoding.ids[i]);
    if (!token || token->empty()) continue;
    std::u32string chars = NormalizedText::from_utf8(*token).chars;
    size_t leading = 0, trailing = 0;
    while (leading < chars.size() && is_space_stand_in(chars[leading])) ++leading;
    while (trailing < chars.size() && is_space_stand_in(chars[chars.size() - 1 - trailing]))
      ++trailing;
    auto& [start, end] = encoding.offsets[i];
    if (leading > 0) {
      const bool first = i == 0 || start == 0;
      if (first && add_prefix_space && leading == 1) leading = 0;
      for (size_t k = 0; k < leading && start < end; ++k) start = next_char(original, start);
    }
    for (size_t k = 0; k < trailing && end > start; ++k) end = previous_char(original, end);
  }
}

class TemplateProcessing final : public PostProcessor {
 public:
  TemplateProcessing(std::vector<TemplatePiece> single, bool trim, bool add_prefix_space)
      : single_(std::move(single)), trim_(trim), add_prefix_space_(add_prefix_space) {
    for (const auto& p : single_) added_ += p.ids.size();
  }
  size_t added_tokens() const override { return added_; }
  void process(Encoding& encoding, const Model& model, std::string_view original) const override {
    if (trim_) trim_offsets(encoding, model, add_prefix_space_, original);
    Encoding out;
    size_t n = encoding.ids.size() + added_;
    out.ids.reserve(n);
    out.type_ids.reserve(n);
    out.offsets.reserve(n);
    out.special.reserve(n);
    for (const auto& piece : single_) {
      if (piece.is_sequence) {
        out.ids.insert(out.ids.end(), encoding.ids.begin(), encoding.ids.end());
        out.type_ids.insert(out.type_ids.end(), encoding.ids.size(), piece.type_id);
        out.offsets.insert(out.offsets.end(), encoding.offsets.begin(), encoding.offsets.end());
        out.special.insert(out.special.end(), encoding.special.begin(), encoding.special.end());
      } else {
        for (int32_t id : piece.ids) {
          out.ids.push_back(id);
          out.type_ids.push_back(piece.type_id);
          out.offsets.emplace_back(0, 0);
          out.special.push_back(1);
        }
      }
    }
    encoding = std::move(out);
  }

 private:
  std::vector<TemplatePiece> single_;
  bool trim_ = false;
  bool add_prefix_space_ = false;
  size_t added_ = 0;
};

class ByteLevelProcessing final : public PostProcessor {
 public:
  ByteLevelProcessing(bool trim, bool add_prefix_space)
      : trim_(trim), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens() const override { return 0; }
  void process(Encoding& encoding, const Model& model, std::string_view original) const override {
    if (trim_) trim_offsets(encoding, model, add_prefix_space_, original);
  }

 private:
  bool trim_;
  bool add_prefix_space_;
};

class SequenceProcessing final : public PostProcessor {
 public:
  explicit SequenceProcessing(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  size_t added_tokens() const override {
    size_t n = 0;
    for (const auto& p : parts_) n += p->added_tokens();
    return n;
  }
  void process(Encoding& encoding, const Model& model, std::string_view original) const override {
    for (const auto& p : parts_) p->process(encoding, model, original);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// ["[SEP]", 102] as BertProcessing and RobertaProcessing write a special token.
int32_t token_pair_id(const Json& object, std::string_view key, const JsonSite& site) {
  const Json& pair = require_field(object, key, site);
  JsonSite at = site.at(key);
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !is_token_id(pair[1]))
    at.fail("expected [token, id], e.g. [\"[SEP]\", 102]");
  return pair[1].get<int32_t>();
}

// A template string ("[CLS] $A [SEP]", "$A:0 </s>:1") or its JSON list of pieces.
std::vector<TemplatePiece> read_template(const Json& value, const Json& special_tokens,
                                         const JsonSite& site, const JsonSite& specials_site) {
  auto special_ids = [&](const std::string& name, const JsonSite& at) {
    if (!special_tokens.is_object() || !special_tokens.contains(name))
      at.fail("the template names \"" + name + "\", which special_tokens does not define");
    const Json& entry = special_tokens[name];
    JsonSite entry_site = specials_site.at(name);
    const Json& ids = require_field(entry, "ids", entry_site);
    std::vector<int32_t> out;
    for (const auto& id : ids) {
      if (!is_token_id(id)) entry_site.at("ids").fail("expected a list of token ids");
      out.push_back(id.get<int32_t>());
    }
    return out;
  };
  std::vector<TemplatePiece> pieces;
  if (value.is_string()) {
    // The string form: pieces separated by spaces, "$A"/"$B"/"$" for sequences, ":N" type ids.
    std::string text = value.get<std::string>();
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find(' ', pos);
      if (end == std::string::npos) end = text.size();
      std::string piece = text.substr(pos, end - pos);
      pos = end + 1;
      if (piece.empty()) continue;
      TemplatePiece p;
      size_t colon = piece.rfind(':');
      if (colon != std::string::npos && colon + 1 < piece.size() &&
          piece.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
        p.type_id = std::stoi(piece.substr(colon + 1));
        piece.resize(colon);
      }
      if (piece == "$" || piece == "$A" || piece == "$a") {
        p.is_sequence = true;
      } else if (piece == "$B" || piece == "$b") {
        site.fail("a single-sequence template cannot use $B");
      } else {
        p.ids = special_ids(piece, site);
      }
      pieces.push_back(std::move(p));
    }
    return pieces;
  }
  if (!value.is_array()) site.fail("expected a template: a string or a list of pieces");
  for (size_t i = 0; i < value.size(); ++i) {
    JsonSite at = site.at(i);
    const Json& item = require_object(value[i], at);
    TemplatePiece p;
    if (item.contains("Sequence")) {
      const Json& seq = require_object(item["Sequence"], at.at("Sequence"));
      std::string id = string_field(seq, "id", at.at("Sequence"));
      if (id != "A")
        at.at("Sequence").at("id").fail("a single-sequence template uses A, not " + id);
      p.is_sequence = true;
      p.type_id = require_field(seq, "type_id", at.at("Sequence")).get<int32_t>();
    } else if (item.contains("SpecialToken")) {
      const Json& sp = require_object(item["SpecialToken"], at.at("SpecialToken"));
      p.ids = special_ids(string_field(sp, "id", at.at("SpecialToken")), at.at("SpecialToken"));
      p.type_id = require_field(sp, "type_id", at.at("SpecialToken")).get<int32_t>();
    } else {
      at.fail("expected {\"Sequence\": …} or {\"SpecialToken\": …}");
    }
    pieces.push_back(std::move(p));
  }
  return pieces;
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Json& value, const JsonSite& site) {
  const Json& object = require_object(value, site);
  std::string type = string_field(object, "type", site);
  if (type == "TemplateProcessing") {
    reject_unknown_fields(object, {"single", "pair", "special_tokens"}, site);
    const Json empty = Json::object();
    const Json& specials = object.contains("special_tokens") ? object["special_tokens"] : empty;
    auto single = read_template(require_field(object, "single", site), specials, site.at("single"),
                                site.at("special_tokens"));
    return std::make_unique<TemplateProcessing>(std::move(single), false, false);
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    bool roberta = type == "RobertaProcessing";
    if (roberta)
      reject_unknown_fields(object, {"sep", "cls", "trim_offsets", "add_prefix_space"}, site);
    else
      reject_unknown_fields(object, {"sep", "cls"}, site);
    std::vector<TemplatePiece> single(3);
    single[0].ids = {token_pair_id(object, "cls", site)};
    single[1].is_sequence = true;
    single[2].ids = {token_pair_id(object, "sep", site)};
    // RobertaProcessing trims offsets like ByteLevel (default true); it never changes ids.
    bool trim = roberta && bool_field(object, "trim_offsets", site, true);
    bool prefix = roberta && bool_field(object, "add_prefix_space", site, true);
    return std::make_unique<TemplateProcessing>(std::move(single), trim, prefix);
  }
  if (type == "ByteLevel") {
    reject_unknown_fields(object, {"add_prefix_space", "trim_offsets", "use_regex"}, site);
    return std::make_unique<ByteLevelProcessing>(
        bool_field(object, "trim_offsets", site, true),
        bool_field(object, "add_prefix_space", site, true));
  }
  if (type == "Sequence") {
    reject_unknown_fields(object, {"processors"}, site);
    return std::make_unique<SequenceProcessing>(
        make_parts<PostProcessor>(object, "processors", site, make_post_processor));
  }
  site.at("type").fail("the post-processor \"" + type +
                       "\" is not supported (supported: TemplateProcessing, BertProcessing, "
                       "RobertaProcessing, ByteLevel, Sequence)");
}

}  // namespace embedflow::tokenizers
