#include "apps/embedflow/text_input.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "apps/embedflow/commands.h"
#include "embedflow/executor.h"
#include "embedflow/hub/resolver.h"
#include "embedflow/preflight.h"

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

std::optional<std::vector<std::string>> texts_or_report(const std::vector<std::string>& texts,
                                                        const std::string& file,
                                                        const std::string& what) {
  std::vector<std::string> all;
  try {
    all = gather_texts(texts, file);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return std::nullopt;
  }
  if (all.empty()) {
    std::cerr << "error: no " << what
              << ": give --text T, --file F, or '-' with lines on standard input (empty lines "
                 "are skipped)\n";
    return std::nullopt;
  }
  return all;
}

bool run_generated_pipeline(const std::string& yaml, const std::string& name,
                            const Registry& registry, const std::vector<std::string>& overrides,
                            int threads, const std::string& dir, const std::string& failed_items) {
  LoadOptions load_options;
  load_options.overrides = overrides;
  const PipelineConfig cfg = load_pipeline_string(yaml, name, registry, load_options);
  print_warnings(cfg);
  preflight(cfg, hub::model_resolver(), offline_model_hint);
  RunOptions opts;
  opts.threads = threads;
  opts.lock_dir = dir;  // the lock of the run's own folder, not of the user's outputs
  const RunResult result = run_pipeline(cfg, opts);
  if (result.status == RunResult::Status::Ok && result.errors == 0) return true;
  std::cerr << "error: " << (result.message.empty() ? failed_items : result.message) << "\n";
  if (!result.errors_file.empty()) {
    std::ifstream errors(result.errors_file);
    std::cerr << errors.rdbuf();
  }
  return false;
}

}  // namespace embedflow::cli
