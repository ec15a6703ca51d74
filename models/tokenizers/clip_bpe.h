// OpenAI CLIP's byte-level BPE tokenizer (simple_tokenizer.py; Hugging Face CLIPTokenizer gives
// the same ids), torch-free.
//
// encode() = clean text, split with CLIP's pattern, map UTF-8 bytes to printable characters,
// apply the merges (word ends marked "</w>"). tokenize() adds <|startoftext|> / <|endoftext|> and
// truncates to the context length keeping <|endoftext|> last, as clip.tokenize(truncate=True)
// and CLIPTokenizer(truncation=True) do.
//
// Text cleaning follows CLIP: ftfy.fix_text, html.unescape twice, whitespace collapse, strip,
// lower-case. ftfy is approximated by the subset of its fixes that occurs in captions (see
// clip_fix_text); tests/fixtures/clip/clip_tokenizer_ref.py is the reference it is tested against.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace embedflow::tokenizers {

// The ftfy.fix_text subset, repeated like ftfy until the text stops changing: well-formed HTML
// references ("&rsquo;", "&#8217;"; skipped when the text contains '<'); UTF-8 mis-decoded as
// Windows-1252/Latin-1 repaired ("cafÃ©" → "café", "â€™" → "’": 2-byte sequences led by Â/Ã and
// any 3-/4-byte sequence, up to three levels deep); C1 controls read as Windows-1252; Latin
// ligatures split; fullwidth ASCII and U+3000 made ASCII; curly quotes straightened; ANSI
// terminal escapes and control characters removed; NFC. Not covered: ftfy's badness heuristics
// for other codecs, halfwidth kana, upper-case entity spellings.
std::string clip_fix_text(const std::string& utf8);
// Python's html.unescape (HTML5 named and numeric character references).
std::string html_unescape(const std::string& utf8);
// The whole cleaning CLIP applies before splitting: fix_text, html_unescape twice, collapse
// whitespace runs to one space, strip, lower-case (Python str.lower semantics).
std::string clip_clean_text(const std::string& utf8);

class ClipBpeTokenizer {
 public:
  static constexpr size_t kContextLength = 77;

  // Reads Hugging Face's vocab.json + merges.txt (the files of any CLIP checkpoint). Throws
  // std::runtime_error naming the file and what is wrong with it.
  static std::shared_ptr<const ClipBpeTokenizer> from_files(const std::string& vocab_json,
                                                            const std::string& merges_txt);

  // Token ids of the cleaned text, without special tokens. Throws std::invalid_argument for text
  // that is not valid UTF-8.
  std::vector<int64_t> encode(const std::string& text) const;
  // [BOS] + encode(text) + [EOS], cut to `context_length` with EOS kept as the last id.
  std::vector<int64_t> tokenize(const std::string& text,
                                size_t context_length = kContextLength) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  size_t vocab_size() const { return vocab_.size(); }

 private:
  ClipBpeTokenizer() = default;
  // The BPE symbols of one pre-token (already mapped through the byte table).
  std::vector<std::string> bpe(const std::string& word) const;
  void append_ids(const std::string& word, std::vector<int64_t>& ids) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<std::string, int> merge_rank_;  // "left right" → rank
  std::string byte_char_[256];                       // byte → its printable stand-in (UTF-8)
  int64_t bos_id_ = 0, eos_id_ = 0;
  std::string vocab_path_;

  // Words repeat a lot in captions; BPE results are cached (bounded).
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

}  // namespace embedflow::tokenizers
