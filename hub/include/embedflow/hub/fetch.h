// Downloading a model into the cache (cache.h) or a plain folder, with libcurl.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "embedflow/progress.h"

namespace embedflow::hub {

struct FetchOptions {
  std::string revision = "main";     // branch, tag or commit hash
  std::string to_dir;                // "" = the cache; else a plain folder (see fetch_model)
  std::vector<std::string> include;  // globs over repo paths; non-empty replaces the default pick
  bool all_files = false;            // every file of the repository
  std::string endpoint;              // "" = hub_endpoint()
  std::string token;                 // "" = hub_token()
  std::string cache_dir;             // "" = hub_cache_dir()
  ProgressMode progress = ProgressMode::Auto;  // On: the bar even when stderr is not a terminal
  int max_attempts = 5;         // per request and file: 429/5xx, resets, cuts (resumed with Range)
  double retry_wait_s = 0.5;    // first wait between attempts; doubles, capped at 8 s (Retry-After
                                // is honoured up to 30 s)
  long connect_timeout_s = 10;  // also the stall timeout: under 1 KB/s for 3x this fails it
  uint64_t max_api_bytes = 64u << 20;  // an API answer (JSON) larger than this fails the fetch
  double lock_timeout_s = 600;         // waiting for another process's download of a file
};

struct FetchedFile {
  std::string path;         // path inside the repository ("1_Pooling/config.json")
  std::string etag;         // sha256 for LFS files, git blob sha1 otherwise
  uint64_t size = 0;        // bytes
  bool downloaded = false;  // false: it was already there (or copied from the cache)
  bool verified = true;     // false: downloaded, but the hub's ETag names no checkable hash
};

struct FetchResult {
  std::string repo_id;
  std::string commit;                // the commit the revision pointed to
  std::string dir;                   // the snapshot folder, or to_dir
  std::vector<FetchedFile> files;    // what the folder now holds for this model
  std::vector<std::string> skipped;  // repository files left out by the default pick
  // Downloaded files whose ETag is neither a sha256 nor a git sha1 (a mirror's opaque ETag): only
  // their size was checked; their blobs are named by the sha256 of the bytes received.
  std::vector<std::string> unverified;
  uint64_t bytes_downloaded = 0;
};

// Downloads `repo_id` at options.revision: `GET {endpoint}/api/models/{repo}/revision/{rev}` for
// the commit and file list, then per file a HEAD and a GET of
// `{endpoint}/{repo}/resolve/{commit}/{path}`, each retried on 429/5xx and resets. Each file is
// written to an `.incomplete` file, resumed with HTTP Range after a cut, cut off beyond the
// announced size, checked against the size and the etag (sha256 for LFS files, git blob sha1
// otherwise; an opaque etag is listed in `unverified` and the blob named by the sha256 of the
// bytes), then renamed into place; refs/<revision> is written once every
// file is in. With `to_dir` the files land as plain files in that folder, with the download
// metadata huggingface_hub keeps for `--local-dir` (`.cache/huggingface/download/`), and blobs
// already in the cache are copied instead of downloaded. Files already present are not fetched
// again. Throws HubError naming the repository, file and URL.
FetchResult fetch_model(const std::string& repo_id, const FetchOptions& options = {});

}  // namespace embedflow::hub
