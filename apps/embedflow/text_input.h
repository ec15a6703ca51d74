// What the commands that embed texts themselves (`embed`, `search`) share: the texts from
// --text, a file or standard input, the encoder stage for a model folder, the scratch folder the
// in-memory pipeline runs in, and labels cut to a width.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

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

// The text cut to `width` characters (UTF-8 aware), "…" marking the cut.
std::string label(const std::string& text, size_t width);

}  // namespace embedflow::cli
