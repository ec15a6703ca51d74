#include "responses.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "embedflow/hub/error.h"
#include "support.h"

namespace embedflow::hub {

using Kind = HubError::Kind;

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch >= 0x20 && ch != 0x7f) {
      out += static_cast<char>(ch);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", ch);
      out += hex;
    }
  }
  return out;
}

void check_repo_path(const std::string& repo_id, const std::string& path) {
  if (!is_contained_path(path))
    throw HubError(Kind::Invalid, repo_id + ": the hub listed an unsafe file name '" + path +
                                      "' (absolute, empty, with '..' or control characters); "
                                      "refusing to write it");
}

bool is_checkable_etag(const std::string& etag) {
  return is_hex(etag, 64) || is_hex(etag, 40);
}

std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
  return etag;
}

RepoListing parse_repo_listing(const std::string& body, const std::string& api,
                               const std::string& repo_id) {
  RepoListing listing;
  try {
    auto info = nlohmann::json::parse(body);
    listing.commit = info.at("sha").get<std::string>();
    for (const auto& s : info.at("siblings")) listing.files.push_back(s.at("rfilename"));
  } catch (const std::exception& e) {
    throw HubError(Kind::Invalid, "unexpected answer from " + api + " (expected JSON with 'sha' " +
                                      "and 'siblings[].rfilename'): " + e.what());
  }
  // The commit names the snapshot folder: anything but a git sha1 (an empty one, a NUL, a path)
  // would put the files elsewhere, or nowhere.
  if (!is_commit_hash(listing.commit))
    throw HubError(Kind::Invalid, api + " gave an unusable commit '" + printable(listing.commit) +
                                      "' (expected 40 lower-case hex digits); is HF_ENDPOINT a "
                                      "Hugging Face hub?");
  for (const auto& p : listing.files) check_repo_path(repo_id, p);
  return listing;
}

RemoteFile parse_head_answer(const Response& r, const std::string& repo_id, const std::string& path,
                             const std::string& url) {
  RemoteFile f;
  f.path = path;
  std::string etag = r.header("x-linked-etag");
  if (etag.empty()) etag = r.header("etag");
  f.etag = normalize_etag(etag);
  f.checkable = is_checkable_etag(f.etag);
  if (f.etag.empty())
    throw HubError(Kind::Invalid, "'" + repo_id + "' file '" + path +
                                      "': the server sent no usable ETag (X-Linked-Etag / ETag) "
                                      "for " +
                                      url + "; is HF_ENDPOINT a Hugging Face hub?");
  std::string size = r.header("x-linked-size");
  if (size.empty()) size = r.header("content-length");
  if (!size.empty()) {
    // The size caps the download: a value that is not a plain number ("-1" wraps) is refused.
    if (size.size() > 19 ||
        !std::all_of(size.begin(), size.end(), [](unsigned char ch) { return std::isdigit(ch); }))
      throw HubError(Kind::Invalid, "'" + repo_id + "' file '" + path +
                                        "': the server announced the size '" + printable(size) +
                                        "' for " + url + "; is HF_ENDPOINT a Hugging Face hub?");
    f.size = std::strtoull(size.c_str(), nullptr, 10);
    f.size_known = true;
  }
  std::string location = r.header("location");
  if (r.status >= 300 && r.status < 400 && !location.empty()) {
    f.location = location;
    f.location_is_hub = false;
  } else {
    f.location = url;
  }
  return f;
}

}  // namespace embedflow::hub
