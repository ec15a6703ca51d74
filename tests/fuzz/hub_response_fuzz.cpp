// libFuzzer target for what the hub client reads from a server (hub/src/responses.cpp,
// http.cpp, select.cpp, cache.cpp): the model API's JSON, a HEAD's header block, Retry-After,
// model specs given by users, URL helpers and the file selection.
//
// Input: one byte choosing the mode, then its text (for the listing: the JSON, then
// NUL-separated --include patterns). Invariants, each
// restated here independently of the code under test:
//   listing  accepted commits are 40 lower-case hex digits; accepted file names are relative,
//            have no empty, '.' or '..' component, no backslash or control character (NUL
//            included), and stay inside the folder they are joined to; select_files keeps a
//            subsequence of them, splits them into kept and skipped, and by default never
//            keeps a pickle (.bin .pt .pth .ckpt .pkl in any case).
//   head     header names are lower-case without ':'; values are trimmed; an accepted ETag is
//            non-empty without quotes, checkable exactly when it is 40 or 64
//            lower-case hex digits; an accepted size is the decimal number sent (at most 19
//            digits, so never negative or wrapped); a redirect's Location is used as given;
//            Retry-After never makes a wait shorter, nor longer than 30 s.
//   spec     an accepted "org/name[@revision]" has a valid repo id and a contained revision,
//            and check_repo_id agrees; its cache folder name holds no '/'.
//   url      url_origin is a prefix of the URL; quote() output is unreserved characters and
//            %XX only, and decodes back to its input.
// Every refusal must be a HubError of kind Invalid; anything else is a bug.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <typeinfo>
#include <vector>

#include "embedflow/hub/cache.h"
#include "embedflow/hub/error.h"
#include "embedflow/hub/fetch.h"
#include "embedflow/hub/select.h"
#include "fuzz_input.h"
#include "http.h"
#include "responses.h"

namespace {

using embedflow::fuzz::check;
using embedflow::fuzz::fail;
using embedflow::hub::HubError;

bool lower_hex(const std::string& s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool safe_relative_name(const std::string& name) {
  if (name.empty() || name[0] == '/') return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    const std::string part = name.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  // And by the filesystem library's own reading: joined to a folder, it stays below it.
  const std::filesystem::path base("/cache/snapshots/abc");
  const std::string joined = (base / name).lexically_normal().string();
  return joined.rfind(base.string() + "/", 0) == 0;
}

void expect_invalid(const HubError& e) {
  check(e.kind() == HubError::Kind::Invalid,
        std::string("refused with a HubError that is not Invalid: ") + e.what());
  check(std::string(e.what()).size() > 0, "a HubError without a message");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

void listing(const std::vector<std::string>& parts) {
  embedflow::hub::RepoListing got;
  try {
    got =
        embedflow::hub::parse_repo_listing(parts[0], "https://hub/api/models/org/name", "org/name");
  } catch (const HubError& e) {
    expect_invalid(e);
    return;
  }
  check(lower_hex(got.commit, 40), "accepted the commit '" + got.commit + "'");
  for (const auto& f : got.files)
    check(safe_relative_name(f), "accepted the file name '" + embedflow::hub::printable(f) + "'");

  embedflow::hub::FetchOptions defaults, patterns;
  for (size_t i = 1; i < parts.size(); ++i) patterns.include.push_back(parts[i]);
  for (const auto* options : {&defaults, &patterns}) {
    std::vector<std::string> skipped;
    const std::vector<std::string> kept =
        embedflow::hub::select_files(got.files, *options, &skipped);
    check(kept.size() + skipped.size() == got.files.size(), "select_files lost or added files");
    // Kept and skipped are complementary subsequences of the listing, in its order.
    size_t k = 0, s = 0;
    for (const auto& f : got.files) {
      if (k < kept.size() && kept[k] == f)
        ++k;
      else if (s < skipped.size() && skipped[s] == f)
        ++s;
      else
        fail("select_files reordered or invented '" + f + "'");
    }
    if (options != &defaults) continue;
    for (const auto& f : kept) {
      const std::string name = lower(f);
      for (const std::string ext : {".bin", ".pt", ".pth", ".ckpt", ".pkl"})
        check(name.size() < ext.size() ||
                  name.compare(name.size() - ext.size(), ext.size(), ext) != 0,
              "kept a pickle by default: '" + f + "'");
    }
  }
}

void head(const std::string& block, uint8_t status_choice) {
  static const long kStatuses[] = {200, 302, 307, 301, 304, 206, 399, 100};
  embedflow::hub::Response r;
  r.status = kStatuses[status_choice & 7];
  // The header block, one line per "\n" (CRLF as servers send it).
  size_t start = 0;
  while (start <= block.size()) {
    const size_t nl = block.find('\n', start);
    const std::string line =
        block.substr(start, nl == std::string::npos ? std::string::npos : nl + 1 - start);
    embedflow::hub::add_header_line(line, r);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  for (const auto& [name, value] : r.headers) {
    check(name == lower(name), "header name '" + name + "' not lower-cased");
    check(name.find(':') == std::string::npos, "header name with ':'");
    if (!value.empty()) {
      check(!std::isspace(static_cast<unsigned char>(value.front())) &&
                !std::isspace(static_cast<unsigned char>(value.back())),
            "header value not trimmed");
    }
  }
  for (double wait : {0.5, 8.0, 60.0}) {
    const double w = embedflow::hub::retry_wait_s(r, wait);
    check(std::isfinite(w) && w >= wait && w <= std::max(wait, 30.0),
          "Retry-After gave a wait of " + std::to_string(w) + " s");
  }

  const std::string url = "https://hub/org/name/resolve/" + std::string(40, 'a') + "/f.bin";
  embedflow::hub::RemoteFile f;
  try {
    f = embedflow::hub::parse_head_answer(r, "org/name", "f.bin", url);
  } catch (const HubError& e) {
    expect_invalid(e);
    return;
  }
  // Only the weak prefix outside the quotes is dropped: "W/x" quoted is an opaque tag.
  check(!f.etag.empty() && f.etag.find('"') == std::string::npos,
        "accepted the etag '" + embedflow::hub::printable(f.etag) + "'");
  check(f.checkable == (lower_hex(f.etag, 40) || lower_hex(f.etag, 64)), "checkable is wrong");
  std::string size = r.header("x-linked-size");
  if (size.empty()) size = r.header("content-length");
  check(f.size_known == !size.empty(), "size_known without a size header, or the reverse");
  if (f.size_known) {
    check(size.size() <= 19 && std::all_of(size.begin(), size.end(),
                                           [](unsigned char c) { return c >= '0' && c <= '9'; }),
          "accepted the size '" + size + "'");
    std::string digits = size.substr(std::min(size.find_first_not_of('0'), size.size()));
    if (digits.empty()) digits = "0";
    check(std::to_string(f.size) == digits,
          "size " + std::to_string(f.size) + " from '" + size + "'");
  }
  const std::string location = r.header("location");
  if (r.status >= 300 && r.status < 400 && !location.empty())
    check(f.location == location && !f.location_is_hub, "the redirect was not followed");
  else
    check(f.location == url && f.location_is_hub, "the file's own URL was not kept");
}

bool valid_repo_part(const std::string& p) {
  if (p.empty() || p.size() > 96) return false;
  if (p.front() == '-' || p.front() == '.' || p.back() == '-' || p.back() == '.') return false;
  if (p.find("--") != std::string::npos || p.find("..") != std::string::npos) return false;
  for (unsigned char c : p)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

void spec(const std::string& text) {
  const auto parsed = embedflow::hub::parse_model_spec(text);
  if (!parsed) return;
  const std::string& id = parsed->repo_id;
  const size_t slash = id.find('/');
  const bool valid = slash == std::string::npos ? valid_repo_part(id)
                                                : valid_repo_part(id.substr(0, slash)) &&
                                                      valid_repo_part(id.substr(slash + 1));
  check(valid, "accepted the repo id '" + embedflow::hub::printable(id) + "'");
  check(parsed->revision.empty() || safe_relative_name(parsed->revision),
        "accepted the revision '" + embedflow::hub::printable(parsed->revision) + "'");
  try {
    embedflow::hub::check_repo_id(id);
  } catch (const HubError& e) {
    fail(std::string("parse_model_spec accepted what check_repo_id refuses: ") + e.what());
  }
  const std::string folder = embedflow::hub::repo_folder_name(id);
  check(folder.rfind("models--", 0) == 0 && folder.find('/') == std::string::npos,
        "cache folder '" + folder + "'");
}

int unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void url(const std::string& text, bool keep_slash) {
  const std::string origin = embedflow::hub::url_origin(text);
  check(text.rfind(origin, 0) == 0, "url_origin is not a prefix");
  const std::string q = embedflow::hub::quote(text, keep_slash);
  std::string decoded;
  for (size_t i = 0; i < q.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(q[i]);
    if (c == '%') {
      check(i + 2 < q.size() && unhex(q[i + 1]) >= 0 && unhex(q[i + 2]) >= 0, "bad %XX");
      decoded += static_cast<char>(unhex(q[i + 1]) * 16 + unhex(q[i + 2]));
      i += 2;
    } else {
      check(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
                (keep_slash && c == '/'),
            std::string("quote left '") + static_cast<char>(c) + "'");
      decoded += static_cast<char>(c);
    }
  }
  check(decoded == text, "quote does not decode back to its input");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  embedflow::fuzz::ByteReader in(data, size);
  const uint8_t mode = in.byte();
  const std::string rest(reinterpret_cast<const char*>(in.rest()), in.rest_size());
  try {
    switch (mode & 3) {
      case 0:
        listing(embedflow::fuzz::split_parts(in.rest(), in.rest_size(), 5));
        break;
      case 1:
        head(rest, mode >> 2);
        break;
      case 2:
        spec(rest);
        break;
      case 3:
        url(rest, mode & 4);
        break;
    }
  } catch (const std::exception& e) {
    fail(std::string("threw ") + typeid(e).name() + ": " + e.what());
  }
  return 0;
}
