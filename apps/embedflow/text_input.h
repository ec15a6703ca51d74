// What the commands that embed texts themselves (`embed`, `search`) share: the texts from
// --text, a file or standard input, the encoder stage for a model folder, the scratch folder the
// in-memory pipeline runs in, and labels cut to a width.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace embedflow {
class Registry;
}  // namespace embedflow

namespace embedflow::cli {

// A temporary folder for a run's files, removed on every way out.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string& prefix = "embedflow-embed");
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// Non-empty lines ("\r\n" accepted).
std::vector<std::string> read_lines_from(std::istream& in);

// `texts`, then the lines of `file` ('-': standard input; "": none). Throws std::runtime_error
// when the file cannot be read.
std::vector<std::string> gather_texts(std::vector<std::string> texts, const std::string& file);

// gather_texts, or nothing after printing why on stderr: an unreadable file, or no text at all
// (`what`: "text to embed", "query").
std::optional<std::vector<std::string>> texts_or_report(const std::vector<std::string>& texts,
                                                        const std::string& file,
                                                        const std::string& what);

// Loads the command's generated pipeline (`name` in messages, --set `overrides` applied), checks
// it as `run` does and runs it with the output lock on `dir` (the scratch folder, not the
// user's output). A failed run or failed items print the message and the error records, and
// return false; what to say when items failed without a message is `failed_items`.
bool run_generated_pipeline(const std::string& yaml, const std::string& name,
                            const Registry& registry, const std::vector<std::string>& overrides,
                            int threads, const std::string& dir, const std::string& failed_items);

// The text cut to `width` characters (UTF-8 aware), "…" marking the cut.
std::string label(const std::string& text, size_t width);

}  // namespace embedflow::cli
