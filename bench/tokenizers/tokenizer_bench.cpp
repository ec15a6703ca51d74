// Tokenizer throughput of embedflow's engine (models/tokenizers/tokenizer.h), one thread: every
// line of a file encoded as an encoder stage does (special tokens added, no truncation), timed
// over whole passes. Prints one JSON object: sentences, tokens, seconds of the best pass,
// tokens/s, a checksum of the ids (compared with the reference's by run_bench.py) and peak RSS.
//
//   tokenizer_bench --tokenizer data/tokenizers/all-MiniLM-L6-v2 --sentences s.txt [--repeat 3]
//   tokenizer_bench --tokenizer T --long-line BYTES   # one line of BYTES: time and token count
//   tokenizer_bench --tokenizer T --load-only          # peak RSS of a loaded tokenizer
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "models/tokenizers/tokenizer.h"

namespace {

using embedflow::tokenizers::Tokenizer;
using Clock = std::chrono::steady_clock;

// A field of /proc/self/status in KiB: VmHWM (peak RSS) or VmRSS (now).
long status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == field) {
      long kib = 0;
      status >> kib;
      return kib;
    }
    std::getline(status, key);
  }
  return -1;
}
long peak_rss_kib() {
  return status_kib("VmHWM:");
}

// FNV-1a over the ids of every sentence, with the sentence boundaries.
uint64_t mix(uint64_t h, uint64_t v) {
  return (h ^ v) * 1099511628211ull;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path, sentences_path;
  int repeat = 3;
  size_t long_line = 0;
  bool load_only = false;
  CLI::App app{"embedflow tokenizer throughput"};
  app.add_option("--tokenizer", tokenizer_path, "model folder or tokenizer.json")->required();
  app.add_option("--sentences", sentences_path, "one text per line");
  app.add_option("--repeat", repeat, "passes over the sentences (the best is reported)");
  app.add_option("--long-line", long_line, "encode one line of this many bytes");
  app.add_flag("--load-only", load_only, "load the tokenizer and report its peak RSS");
  CLI11_PARSE(app, argc, argv);

  const long rss_before = peak_rss_kib();
  auto t0 = Clock::now();
  auto tok = std::filesystem::is_directory(tokenizer_path) ? Tokenizer::from_folder(tokenizer_path)
                                                           : Tokenizer::from_file(tokenizer_path);
  double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  nlohmann::json out = {{"load_seconds", load_s}, {"vocab_size", tok->vocab_size()}};
  if (load_only) {
    out["rss_before_kib"] = rss_before;
    out["peak_rss_kib"] = peak_rss_kib();
    out["rss_kib"] = status_kib("VmRSS:");
    // One encoding, so that the model's structures are touched as a user's first text does.
    out["tokens"] = tok->encode_ids("a first text to check the tokenizer works").size();
    out["rss_after_encode_kib"] = status_kib("VmRSS:");
    std::cout << out.dump() << "\n";
    return 0;
  }
  if (long_line) {
    // English-like words, so every pre-tokenizer splits it into words.
    const std::string words = "tokenization of a very long line stays linear in its length ";
    std::string line;
    line.reserve(long_line);
    while (line.size() < long_line) line += words;
    line.resize(long_line);
    t0 = Clock::now();
    auto ids = tok->encode_ids(line, Tokenizer::kNoTruncation);
    out["bytes"] = long_line;
    out["tokens"] = ids.size();
    out["seconds"] = std::chrono::duration<double>(Clock::now() - t0).count();
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::vector<std::string> lines;
  {
    std::ifstream in(sentences_path);
    if (!in) {
      std::cerr << "cannot read " << sentences_path << "\n";
      return 1;
    }
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  double best = 1e30;
  size_t tokens = 0;
  uint64_t checksum = 1469598103934665603ull;
  std::vector<std::vector<int32_t>> all(lines.size());
  for (int r = 0; r < repeat; ++r) {
    t0 = Clock::now();
    for (size_t i = 0; i < lines.size(); ++i)
      all[i] = tok->encode_ids(lines[i], Tokenizer::kNoTruncation);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    // The checksum is computed outside the timed region, as the reference does.
    size_t n_tokens = 0;
    uint64_t h = 1469598103934665603ull;
    for (const auto& ids : all) {
      n_tokens += ids.size();
      for (int32_t id : ids) h = mix(h, static_cast<uint64_t>(id));
      h = mix(h, 0xFFFFFFFFull);
    }
    if (s < best) best = s;
    tokens = n_tokens;
    checksum = h;
  }
  out["sentences"] = lines.size();
  out["tokens"] = tokens;
  out["seconds"] = best;
  out["tokens_per_s"] = static_cast<double>(tokens) / best;
  out["checksum"] = std::to_string(checksum);
  out["peak_rss_kib"] = peak_rss_kib();
  std::cout << out.dump() << "\n";
  return 0;
}
