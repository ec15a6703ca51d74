#include "common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "embedflow/strings.h"

namespace embedflow::regression::detail {

std::string num(double x, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

std::string brief(const Json& v, size_t max) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
}

std::string summarize(const std::vector<std::string>& diffs, size_t shown) {
  std::vector<std::string> head(diffs.begin(), diffs.begin() + std::min(shown, diffs.size()));
  std::string s = join(head, "; ");
  if (diffs.size() > shown) s += " (+" + std::to_string(diffs.size() - shown) + " more)";
  return s;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(std::move(l));
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string json_id(const Json& line) {
  if (!line.is_object() || !line.contains("id")) return "";
  const Json& id = line["id"];
  return id.is_string() ? id.get<std::string>() : id.dump();
}

bool within(double golden, double current, const Tolerance& tol) {
  if (golden == current) return true;  // also equal infinities
  if (std::isnan(golden) || std::isnan(current)) return std::isnan(golden) && std::isnan(current);
  return std::fabs(current - golden) <= tol.atol + tol.rtol * std::fabs(golden);
}

std::filesystem::path common_ancestor(const std::filesystem::path& a,
                                      const std::filesystem::path& b) {
  std::filesystem::path out;
  auto ia = a.begin(), ib = b.begin();
  for (; ia != a.end() && ib != b.end() && *ia == *ib; ++ia, ++ib) out /= *ia;
  return out;
}

}  // namespace embedflow::regression::detail
