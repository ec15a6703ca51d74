#include "apps/embedflow/text_input.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace embedflow::cli {

ScratchDir::ScratchDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder");
  path = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::vector<std::string> read_lines_from(std::istream& in) {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> gather_texts(std::vector<std::string> texts, const std::string& file) {
  if (file == "-") {
    for (auto& t : read_lines_from(std::cin)) texts.push_back(std::move(t));
  } else if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file);
    for (auto& t : read_lines_from(in)) texts.push_back(std::move(t));
  }
  return texts;
}

std::string label(const std::string& text, size_t width) {
  size_t chars = 0, i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (chars == width) break;
      ++chars;
    }
  }
  return i < text.size() ? text.substr(0, i) + "…" : text;
}

}  // namespace embedflow::cli
