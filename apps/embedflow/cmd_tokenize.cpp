// `embedflow tokenize MODEL [TEXT...]`: the ids, tokens and character offsets a model's
// tokenizer gives each text — what an encoder stage feeds its model — for debugging embeddings.
// Texts come from the arguments, else one per line of standard input.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/embedflow/commands.h"
#include "embedflow/hub/cache.h"
#include "models/tokenizers/tokenizer.h"

namespace embedflow::cli {

namespace {

struct TokenizeOptions {
  std::string model;
  std::vector<std::string> texts;
  size_t max_length = 0;  // 0: no limit
  bool no_special = false;
  bool json = false;
};

std::shared_ptr<const tokenizers::Tokenizer> load_tokenizer(const std::string& spec) {
  std::string path = hub::resolve_model_path(spec);
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0)
    return tokenizers::Tokenizer::from_file(path);
  return tokenizers::Tokenizer::from_folder(path);
}

// One text as a JSON record: ids, tokens, offsets (byte ranges of the UTF-8 text) and the mask
// of special tokens.
nlohmann::json describe(const tokenizers::Tokenizer& tok, const std::string& text,
                        const TokenizeOptions& o) {
  size_t limit = o.max_length ? o.max_length : tokenizers::Tokenizer::kNoLimit;
  tokenizers::Encoding enc = tok.encode(text, limit, !o.no_special);
  nlohmann::json tokens = nlohmann::json::array(), offsets = nlohmann::json::array();
  for (size_t i = 0; i < enc.ids.size(); ++i) {
    tokens.push_back(tok.id_to_token(enc.ids[i]));
    offsets.push_back({enc.offsets[i].first, enc.offsets[i].second});
  }
  return {{"text", text},       {"ids", enc.ids},         {"tokens", tokens},
          {"offsets", offsets}, {"special", enc.special}, {"count", enc.ids.size()}};
}

void print_table(const nlohmann::json& r) {
  std::cout << r["text"].get<std::string>().size() << " bytes, " << r["count"] << " tokens\n";
  const auto& ids = r["ids"];
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& off = r["offsets"][i];
    // The token as JSON, so that spaces, "Ġ" and control characters stay visible.
    std::cout << "  " << i << "\t" << ids[i] << "\t" << r["tokens"][i].dump() << "\t[" << off[0]
              << ", " << off[1] << ")" << (r["special"][i] == 1 ? "\tspecial" : "") << "\n";
  }
}

}  // namespace

void add_tokenize_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand(
      "tokenize", "Show the ids, tokens and offsets a model's tokenizer gives texts");
  cmd->add_option("model", o->model,
                  "A model folder (tokenizer.json, vocab.txt, vocab.json + merges.txt or a "
                  "SentencePiece .model), a tokenizer.json file, or a cached hub id")
      ->required();
  cmd->add_option("text", o->texts, "Texts to tokenize (default: one per line of standard input)");
  cmd->add_option("--max-length", o->max_length,
                  "Truncate to this many ids, special tokens included (as the encoder stages' "
                  "max_length does; default: no limit beyond the tokenizer.json's own)");
  cmd->add_flag("--no-special", o->no_special, "Do not add the special tokens ([CLS], <s>, …)");
  cmd->add_flag("--json", o->json, "One JSON record per text (JSON Lines) instead of a table");
  commands.push_back({cmd, [o] {
                        auto tok = load_tokenizer(o->model);
                        std::vector<std::string> texts = o->texts;
                        if (texts.empty()) {
                          std::string line;
                          while (std::getline(std::cin, line)) texts.push_back(line);
                        }
                        int status = kExitOk;
                        for (size_t i = 0; i < texts.size(); ++i) {
                          try {
                            auto r = describe(*tok, texts[i], *o);
                            if (o->json)
                              std::cout << r.dump(-1, ' ', false,
                                                  nlohmann::json::error_handler_t::replace)
                                        << "\n";
                            else
                              print_table(r);
                          } catch (const std::invalid_argument& e) {
                            // One bad text is that text's error; the others are still shown.
                            std::cerr << "error: text " << i + 1 << ": " << e.what() << "\n";
                            status = kExitFailed;
                          }
                        }
                        return status;
                      }});
}

}  // namespace embedflow::cli
