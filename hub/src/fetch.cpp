#include "embedflow/hub/fetch.h"

#include <algorithm>
#include <iostream>

#include <sys/stat.h>

#include "cache_layout.h"
#include "download_progress.h"
#include "embedflow/hash.h"
#include "embedflow/hub/cache.h"
#include "embedflow/hub/env.h"
#include "embedflow/hub/error.h"
#include "embedflow/hub/select.h"
#include "http.h"
#include "local_dir.h"
#include "responses.h"
#include "support.h"

namespace embedflow::hub {

namespace fs = std::filesystem;
using Kind = HubError::Kind;

namespace {

// The hash of `path` in the form of `etag`; "" when the etag is not checkable.
std::string content_hash(const fs::path& path, const std::string& etag) {
  if (is_hex(etag, 64)) return sha256_file(path.string());
  if (is_hex(etag, 40)) return git_blob_sha1_file(path.string());
  return "";
}

const char* hash_name(const std::string& etag) {
  return is_hex(etag, 64) ? "sha256" : "git sha1";
}

struct Context {
  RepoContext repo;
  std::string commit;
  const FetchOptions* options = nullptr;
  HttpSession* http = nullptr;
  DownloadProgress* progress = nullptr;

  RetryPolicy retry() const { return {options->max_attempts, options->retry_wait_s}; }
  // Retries are worth a line: on the progress display once it runs, else on stderr.
  void note(const std::string& message) const {
    if (progress)
      progress->note(message);
    else if (options->progress != ProgressMode::Off)
      std::cerr << message << "\n";
  }
  Response request(const std::string& method, const std::string& url, bool follow) {
    return request_retrying(*http, repo, method, url, true, follow, retry(),
                            [this](const std::string& m) { note(m); });
  }
};

RemoteFile head_file(Context& c, const std::string& path) {
  std::string url = c.repo.endpoint + "/" + c.repo.repo_id + "/resolve/" + quote(c.commit, false) +
                    "/" + quote(path, true);
  Response r;
  // Relative redirects (a renamed repository) are followed here; an absolute one is the CDN
  // holding an LFS file, which is where the GET goes.
  for (int hops = 0;; ++hops) {
    r = c.request("HEAD", url, false);
    std::string location = r.header("location");
    if (r.status >= 300 && r.status < 400 && !location.empty() && !is_absolute_url(location) &&
        hops < 10) {
      url = url_origin(url) + (location.front() == '/' ? "" : "/") + location;
      continue;
    }
    break;
  }
  if (r.status >= 400) throw_http_error(r, c.repo, c.commit, path, url);
  return parse_head_answer(r, c.repo.repo_id, path, url);
}

// The name a download of `f` has while incomplete, and its lock's: the etag when it names the
// content. An opaque ETag may be shared by different files and hold any character, so it is
// replaced by a digest of what identifies this file (etag, commit, path).
std::string download_key(const Context& c, const RemoteFile& f) {
  if (f.checkable) return f.etag;
  return "unverified-" + sha256_hex(f.etag + '\0' + c.commit + '\0' + f.path);
}

// Downloads `f` into `incomplete` (resuming what is there) and checks it against the announced
// size and, when it can, the etag. Returns the bytes transferred.
uint64_t download_file(Context& c, const RemoteFile& f, const fs::path& incomplete) {
  std::error_code ec;
  fs::create_directories(incomplete.parent_path(), ec);
  uint64_t transferred = 0;
  uint64_t have = file_size_or_zero(incomplete);
  if (f.size_known && have > f.size) {
    fs::remove(incomplete, ec);  // longer than the file: not ours to resume
    have = 0;
  }
  DownloadProgress& progress = *c.progress;
  progress.file_start(f.path, f.size, have);
  const bool complete = f.size_known && have == f.size && have > 0;
  if (!complete) {
    TransferEvents events;
    events.on_bytes = [&](uint64_t n) { progress.add(n); };
    events.on_restart = [&](uint64_t kept) { progress.restart(kept); };
    events.on_retry = [&](const std::string& message) { progress.note(message); };
    transferred =
        download_resumable(*c.http, c.repo, c.commit, f.path, f.location, f.location_is_hub,
                           incomplete, f.size_known ? f.size : UINT64_MAX, c.retry(), events);
  }

  // Nothing reaches the cache or the folder unless it is the file the hub announced.
  const uint64_t got = file_size_or_zero(incomplete);
  if (f.size_known && got != f.size) {
    fs::remove(incomplete, ec);
    throw HubError(Kind::Checksum, "'" + c.repo.repo_id + "' file '" + f.path + "': received " +
                                       std::to_string(got) + " bytes, the hub announced " +
                                       std::to_string(f.size) + " (" + f.location +
                                       "); the partial file was removed, run the fetch again");
  }
  if (!f.checkable) return transferred;
  progress.checking(std::string("checking ") + hash_name(f.etag) + " of");
  const std::string actual = content_hash(incomplete, f.etag);
  if (actual != f.etag) {
    fs::remove(incomplete, ec);
    throw HubError(Kind::Checksum,
                   "'" + c.repo.repo_id + "' file '" + f.path + "': " + hash_name(f.etag) +
                       " of the received bytes is " + actual + ", the hub announced " + f.etag +
                       " (" + f.location + "); the download was discarded, run the fetch again");
  }
  return transferred;
}

// A checked download takes its final name.
void install_file(Context& c, const fs::path& incomplete, const fs::path& target) {
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  commit_file_atomic(incomplete, target);
  // Blobs are shared read-only data: rw-r--r-- minus the umask, like huggingface_hub.
  mode_t mask = ::umask(0);
  ::umask(mask);
  fs::permissions(target, static_cast<fs::perms>(0644 & ~mask), ec);
  c.progress->file_done();
}

// The commit the revision points to now, and the files in it.
std::vector<std::string> list_repo_files(Context& c, const std::string& revision) {
  const std::string api =
      c.repo.endpoint + "/api/models/" + c.repo.repo_id + "/revision/" + quote(revision, false);
  Response r = c.request("GET", api, true);
  if (r.status != 200) throw_http_error(r, c.repo, revision, "", api);
  RepoListing listing = parse_repo_listing(r.body, api, c.repo.repo_id);
  c.commit = listing.commit;
  return listing.files;
}

}  // namespace

FetchResult fetch_model(const std::string& repo_id, const FetchOptions& options) {
  check_repo_id(repo_id);
  if (!is_contained_path(options.revision))
    throw HubError(Kind::Invalid, "invalid revision '" + printable(options.revision) +
                                      "': expected a branch, a tag or a commit hash (no leading "
                                      "'/', no '..', no control characters)");
  if (hub_offline())
    throw HubError(Kind::Offline,
                   "HF_HUB_OFFLINE is set: fetching '" + repo_id +
                       "' needs the network; unset HF_HUB_OFFLINE, or copy the model folder "
                       "by hand and give its path");

  Context c;
  c.repo.repo_id = repo_id;
  c.options = &options;
  c.repo.endpoint = options.endpoint.empty() ? hub_endpoint() : options.endpoint;
  while (!c.repo.endpoint.empty() && c.repo.endpoint.back() == '/') c.repo.endpoint.pop_back();
  const std::string token = options.token.empty() ? hub_token() : options.token;
  c.repo.have_token = !token.empty();
  HttpSession http(token, options.connect_timeout_s, options.max_api_bytes);
  c.http = &http;

  const std::vector<std::string> repo_files = list_repo_files(c, options.revision);
  FetchResult result;
  result.repo_id = repo_id;
  result.commit = c.commit;
  std::vector<std::string> wanted = select_files(repo_files, options, &result.skipped);
  if (wanted.empty())
    throw HubError(Kind::NotFound,
                   "'" + repo_id + "' at " + options.revision + ": no file matches" +
                       (options.include.empty() ? "" : " the --include patterns") + " (" +
                       std::to_string(repo_files.size()) + " files in the repository)");

  const fs::path cache = options.cache_dir.empty() ? hub_cache_dir() : options.cache_dir;
  const fs::path repo_dir = cache / repo_folder_name(repo_id);
  const bool to_dir = !options.to_dir.empty();
  const fs::path out_dir =
      to_dir ? fs::path(expand_user(options.to_dir)) : repo_dir / "snapshots" / c.commit;
  result.dir = out_dir.string();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw HubError(Kind::Io, "cannot create " + out_dir.string() + ": " + ec.message());

  // Files already in place are not asked about: a commit's files never change.
  std::vector<RemoteFile> plan;
  for (const auto& p : wanted) {
    bool present = false;
    std::string etag;
    if (to_dir) {
      auto meta = read_local_metadata(out_dir, p);
      present = meta && meta->commit == c.commit;
      if (present) etag = meta->etag;
    } else {
      present = fs::exists(out_dir / p, ec);  // follows the symlink: the blob is there too
      if (present) etag = fs::read_symlink(out_dir / p, ec).filename().string();
    }
    if (present) {
      result.files.push_back({p, etag, file_size_or_zero(out_dir / p), false});
      continue;
    }
    plan.push_back(head_file(c, p));
  }

  uint64_t total = 0;
  for (const auto& f : plan) total += f.size;
  DownloadProgress progress(options.progress, total, plan.size());
  c.progress = &progress;

  for (const auto& f : plan) {
    FetchedFile done{f.path, f.etag, f.size, false, true};
    const std::string key = download_key(c, f);
    // Only a checkable etag names a blob before the download; an opaque one never does (two
    // files sharing it must not share a blob).
    const fs::path blob = f.checkable ? repo_dir / "blobs" / f.etag : fs::path();
    if (to_dir) {
      const fs::path target = out_dir / f.path;
      const fs::path entry = local_download_entry(out_dir, f.path);
      FileLock lock(entry.string() + ".lock", options.lock_timeout_s);
      auto old = read_local_metadata(out_dir, f.path);
      if (fs::is_regular_file(target, ec) &&
          ((old && old->etag == f.etag) ||
           (f.checkable && content_hash(target, f.etag) == f.etag))) {
        progress.skip(f.size);  // same content as the hub's (a fetch of another commit)
      } else if (f.checkable && fs::is_regular_file(blob, ec) &&
                 file_size_or_zero(blob) == f.size) {
        copy_file_atomic(blob, target);
        progress.skip(f.size);
      } else {
        fs::path incomplete = entry;
        incomplete += "." + key + ".incomplete";
        result.bytes_downloaded += download_file(c, f, incomplete);
        install_file(c, incomplete, target);
        done.downloaded = true;
      }
      write_local_metadata(out_dir, f.path, c.commit, f.etag);
    } else {
      FileLock lock(blob_lock_path(cache, repo_id, key), options.lock_timeout_s);
      fs::path stored = blob;
      if (!f.checkable || !fs::exists(blob, ec)) {
        const fs::path incomplete = repo_dir / "blobs" / (key + ".incomplete");
        result.bytes_downloaded += download_file(c, f, incomplete);
        // What cannot be checked is named by what it is, as the hub names LFS files.
        if (!f.checkable) stored = repo_dir / "blobs" / sha256_file(incomplete.string());
        install_file(c, incomplete, stored);
        done.downloaded = true;
      } else {
        progress.skip(f.size);
      }
      link_into_snapshot(stored, out_dir / f.path);
    }
    done.verified = f.checkable || !done.downloaded;
    if (!done.verified) result.unverified.push_back(f.path);
    result.files.push_back(done);
  }
  progress.finish();

  // The ref moves only once the snapshot is whole, so resolve_model_path never finds half a
  // model under a branch name.
  if (!to_dir && options.revision != c.commit) write_ref(repo_dir, options.revision, c.commit);
  std::sort(result.files.begin(), result.files.end(),
            [](const FetchedFile& a, const FetchedFile& b) { return a.path < b.path; });
  return result;
}

}  // namespace embedflow::hub
