#include "embedflow/hub/env.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "support.h"

namespace embedflow::hub {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool env_truthy(const char* name) {
  std::string v = env(name);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

}  // namespace

std::string hub_cache_dir() {
  for (const char* name : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"})
    if (std::string v = env(name); !v.empty()) return expand_user(v);
  if (std::string home = env("HF_HOME"); !home.empty()) return expand_user(home) + "/hub";
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty())
    return expand_user(xdg) + "/huggingface/hub";
  return home_dir() + "/.cache/huggingface/hub";
}

std::string hub_endpoint() {
  std::string e = env("HF_ENDPOINT");
  if (e.empty()) e = "https://huggingface.co";
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

bool hub_offline() {
  return env_truthy("HF_HUB_OFFLINE") || env_truthy("TRANSFORMERS_OFFLINE");
}

std::string hub_token() {
  if (std::string t = trim(env("HF_TOKEN")); !t.empty()) return t;
  if (std::string t = trim(env("HUGGING_FACE_HUB_TOKEN")); !t.empty()) return t;
  std::string path = env("HF_TOKEN_PATH");
  if (path.empty()) {
    std::string home = env("HF_HOME");
    path = home.empty() ? home_dir() + "/.cache/huggingface/token" : expand_user(home) + "/token";
  }
  std::error_code ec;
  return std::filesystem::is_regular_file(expand_user(path), ec)
             ? trim(read_text(expand_user(path)))
             : "";
}

}  // namespace embedflow::hub
