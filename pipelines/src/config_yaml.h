// The YAML side of the pipeline loader (config.cpp): diagnostics collected as they are found,
// ${VAR} expansion, and the conversion of a YAML tree to JSON with the location of every value
// kept beside it, bounded against aliases that would make a small file huge.
#pragma once

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "embedflow/config.h"

namespace embedflow::config_detail {

using Locations = std::map<std::string, SourceLocation>;

struct Diags {
  std::vector<Diagnostic> list;
  void error(SourceLocation where, std::string stage, std::string msg) {
    list.push_back(
        {Diagnostic::Severity::Error, std::move(where), std::move(stage), std::move(msg)});
  }
  void warning(SourceLocation where, std::string stage, std::string msg) {
    list.push_back(
        {Diagnostic::Severity::Warning, std::move(where), std::move(stage), std::move(msg)});
  }
  bool has_errors() const {
    for (const auto& d : list)
      if (d.severity == Diagnostic::Severity::Error) return true;
    return false;
  }
};

// ---------------------------------------------------------------------------------------------
// ${VAR} and ${VAR:-default} expansion in scalars.

class Expander {
 public:
  Expander(const std::map<std::string, std::string>& extra) : extra_(extra) {}

  // Defaults may nest (${A:-${B:-c}}), but not without bound: each level rescans and copies
  // its default, so unbounded nesting costs quadratic time and memory (120 KB of nested
  // defaults once needed 3.7 GB) and recursion deep enough to overflow the stack.
  static constexpr int kMaxNesting = 16;

  // Returns false (with `error` set) when a variable is unset and has no default.
  bool expand(const std::string& in, std::string& out, std::string& error, int depth = 0) const {
    if (depth > kMaxNesting) {
      error = "${…} defaults nest deeper than " + std::to_string(kMaxNesting) + " levels";
      return false;
    }
    out.clear();
    for (size_t i = 0; i < in.size();) {
      if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '$') {  // "$$" is a literal '$'
        out += '$';
        i += 2;
        continue;
      }
      if (in[i] != '$' || i + 1 >= in.size() || in[i + 1] != '{') {
        out += in[i++];
        continue;
      }
      // The matching brace: defaults may nest, as in ${IMAGES:-${PIPELINE_DIR}/images}.
      size_t close = i + 2;
      for (int depth = 1; close < in.size(); ++close) {
        if (in[close] == '{') ++depth;
        if (in[close] == '}' && --depth == 0) break;
      }
      if (close >= in.size()) {
        error = "unterminated '${' in \"" + in + "\"";
        return false;
      }
      std::string body = in.substr(i + 2, close - i - 2);
      std::string name = body, fallback;
      bool has_fallback = false;
      size_t dash = body.find(":-");
      if (dash != std::string::npos) {
        name = body.substr(0, dash);
        fallback = body.substr(dash + 2);
        has_fallback = true;
      }
      const char* value = lookup(name);
      if (value && *value) {
        out += value;
      } else if (has_fallback) {
        std::string expanded;
        if (!expand(fallback, expanded, error, depth + 1)) return false;
        out += expanded;
      } else {
        error = "environment variable '" + name + "' is not set (write ${" + name +
                ":-default} to give a default)";
        return false;
      }
      i = close + 1;
    }
    return true;
  }

 private:
  const char* lookup(const std::string& name) const {
    auto it = extra_.find(name);
    if (it != extra_.end()) return it->second.c_str();
    return std::getenv(name.c_str());
  }
  const std::map<std::string, std::string>& extra_;
};

// ---------------------------------------------------------------------------------------------
// YAML → JSON with locations.

struct Converter {
  std::string file;
  const Expander& expander;
  Diags& diags;
  std::string stage;  // for messages

  SourceLocation loc(const YAML::Mark& m) const {
    if (m.line < 0) return SourceLocation{file, 0, 0};
    return SourceLocation{file, m.line + 1, m.column + 1};
  }

  // Plain scalars get YAML 1.2 core-schema types; quoted ones stay strings.
  Json scalar(const YAML::Node& n) {
    std::string text;
    std::string err;
    if (!expander.expand(n.Scalar(), text, err)) {
      diags.error(loc(n.Mark()), stage, err);
      return Json(n.Scalar());
    }
    if (n.Tag() == "!") return Json(text);  // quoted
    if (text == "true" || text == "True" || text == "TRUE") return Json(true);
    if (text == "false" || text == "False" || text == "FALSE") return Json(false);
    if (text == "null" || text == "~" || text == "Null" || text == "NULL") return Json();
    if (!text.empty()) {
      const char* s = text.c_str();
      char* end = nullptr;
      errno = 0;
      long long iv = std::strtoll(s, &end, 10);
      if (*end == '\0' && errno == 0 &&
          (std::isdigit(static_cast<unsigned char>(s[0])) ||
           ((s[0] == '-' || s[0] == '+') && text.size() > 1)))
        return Json(static_cast<int64_t>(iv));
      errno = 0;
      double dv = std::strtod(s, &end);
      bool numeric_start = std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' ||
                           s[0] == '+' || s[0] == '.';
      if (*end == '\0' && errno == 0 && numeric_start) return Json(dv);
      if (text == ".inf" || text == "+.inf") return Json(INFINITY);
      if (text == "-.inf") return Json(-INFINITY);
    }
    return Json(text);
  }

  // A pipeline file is small: these bounds only stop YAML aliases from making it huge. An alias
  // that contains itself (`x: &a [*a]`) recursed until the stack overflowed, and a 652-byte
  // "billion laughs" file expanded to 10^10 strings.
  static constexpr int kMaxDepth = 64;
  static constexpr size_t kMaxValues = 1000000;
  size_t values = 0;
  bool too_big = false;

  // Values that came from `--set`, reported there rather than at a line of the file.
  std::vector<std::pair<YAML::Node, std::string>> overrides{};

  // `path` names the value in `locs` ("mel.n_mels").
  Json convert(const YAML::Node& n, const std::string& path, Locations& locs, int depth = 0) {
    locs[path] = loc(n.Mark());
    for (const auto& [node, text] : overrides)
      if (node.is(n)) locs[path] = SourceLocation{"--set " + text, 0, 0};
    if (too_big) return Json();
    if (depth > kMaxDepth || ++values > kMaxValues) {
      too_big = true;
      diags.error(loc(n.Mark()), stage,
                  depth > kMaxDepth ? "values nest deeper than " + std::to_string(kMaxDepth) +
                                          " levels (an alias that refers to itself?)"
                                    : "more than " + std::to_string(kMaxValues) +
                                          " values once aliases are expanded (an alias bomb?)");
      return Json();
    }
    switch (n.Type()) {
      case YAML::NodeType::Scalar:
        return scalar(n);
      case YAML::NodeType::Sequence: {
        Json arr = Json::array();
        size_t i = 0;
        for (const auto& e : n)
          arr.push_back(convert(e, path + "[" + std::to_string(i++) + "]", locs, depth + 1));
        return arr;
      }
      case YAML::NodeType::Map: {
        Json obj = Json::object();
        for (const auto& kv : n) {
          std::string key = kv.first.Scalar();
          std::string sub = path.empty() ? key : path + "." + key;
          if (obj.contains(key))
            diags.error(loc(kv.first.Mark()), stage, "duplicate key '" + key + "'");
          obj[key] = convert(kv.second, sub, locs, depth + 1);
          locs[sub + "#key"] = loc(kv.first.Mark());
        }
        return obj;
      }
      default:
        return Json();
    }
  }
};

}  // namespace embedflow::config_detail
