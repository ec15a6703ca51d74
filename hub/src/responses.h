// What the hub's answers say: the model API's JSON (commit and file list) and the headers of a
// file's HEAD, with the checks that keep a server's names and sizes from becoming paths or
// download caps they should not be. Apart from the transfers (fetch.cpp) so they can be tested
// and fuzzed on their own (tests/fuzz/hub_response_fuzz.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "http.h"

namespace embedflow::hub {

// A string from the command line or the server, quotable in a message (NULs and control
// characters as \xNN).
std::string printable(const std::string& s);

// Paths from the server become paths on disk: throws HubError(Invalid) for anything that could
// leave the folder (is_contained_path).
void check_repo_path(const std::string& repo_id, const std::string& path);

// The hub names a file's content by its sha256 (LFS files) or git blob sha1 (the others); only
// those ETags can be checked against what was received.
bool is_checkable_etag(const std::string& etag);
// Without the weak prefix W/ and without quotes.
std::string normalize_etag(std::string etag);

// The answer of `api/models/<repo>/revision/<revision>`: the commit it resolves to (40
// lower-case hex digits) and the repository's files (each a contained path). Throws
// HubError(Invalid) naming `api` for anything else.
struct RepoListing {
  std::string commit;
  std::vector<std::string> files;
};
RepoListing parse_repo_listing(const std::string& body, const std::string& api,
                               const std::string& repo_id);

// What a HEAD of `resolve/<commit>/<path>` says about a file.
struct RemoteFile {
  std::string path;
  std::string etag;        // normalised: no W/ prefix, no quotes
  bool checkable = false;  // is_checkable_etag: the content can be checked against it
  std::string location;    // where to GET it (the CDN for LFS files)
  bool location_is_hub = true;
  uint64_t size = 0;
  bool size_known = false;
};
// From a HEAD answered below 400 for `url`; throws HubError(Invalid) when it has no ETag or
// announces a size that is not a plain decimal number.
RemoteFile parse_head_answer(const Response& r, const std::string& repo_id, const std::string& path,
                             const std::string& url);

}  // namespace embedflow::hub
