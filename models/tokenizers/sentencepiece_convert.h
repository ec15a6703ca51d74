// A SentencePiece model file (*.model) as the tokenizer.json transformers' converters make of
// it (XLMRobertaConverter and its kin): Precompiled normaliser from the model's own charsmap,
// Metaspace pre-tokenizer, Unigram (or BPE) model, the fairseq id layout for XLM-R-style
// folders, and "<s> $A </s>".
#pragma once

#include <string>
#include <vector>

#include "models/tokenizers/components.h"

namespace embedflow::tokenizers {

// What the converter reads of a .model file (a serialised ModelProto): its pieces and the
// normaliser and trainer settings the conversion depends on.
struct SentencePieceFile {
  struct Piece {
    std::string piece;
    float score = 0.0f;
    int type = 1;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  };
  std::vector<Piece> pieces;     // ModelProto.pieces
  std::string charsmap;          // NormalizerSpec.precompiled_charsmap
  std::string normalizer_name;   // NormalizerSpec.name ("nmt_nfkc", …)
  bool add_dummy_prefix = true;  // NormalizerSpec.add_dummy_prefix (proto2 default true)
  int model_type = 1;            // TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;    // TrainerSpec.byte_fallback
};

// Throws TokenizerConfigError naming the file when it is not a SentencePiece model.
SentencePieceFile read_sentencepiece_file(const std::string& model_path);

// `config` is the folder's tokenizer_config.json (or an empty object). Throws
// TokenizerConfigError naming the file.
Json sentencepiece_tokenizer_json(const std::string& model_path, const Json& config);

}  // namespace embedflow::tokenizers
