#include "embedflow/hub/fetch.h"

#include <algorithm>
#include <sstream>

#include <sys/stat.h>
#include <nlohmann/json.hpp>

#include "cache_layout.h"
#include "download_progress.h"
#include "embedflow/hash.h"
#include "embedflow/hub/cache.h"
#include "embedflow/hub/env.h"
#include "embedflow/hub/error.h"
#include "embedflow/hub/select.h"
#include "http.h"
#include "local_dir.h"
#include "support.h"

namespace embedflow::hub {

namespace fs = std::filesystem;
using Kind = HubError::Kind;

namespace {

// Paths from the server become paths on disk: refuse anything that could leave the folder.
void check_repo_path(const std::string& repo_id, const std::string& path) {
  bool bad = path.empty() || path.front() == '/' || path.find('\\') != std::string::npos ||
             path.find('\0') != std::string::npos;
  std::stringstream ss(path);
  std::string part;
  while (!bad && std::getline(ss, part, '/')) bad = part.empty() || part == "." || part == "..";
  if (bad)
    throw HubError(Kind::Invalid, repo_id + ": the hub listed an unsafe file name '" + path +
                                      "' (absolute, empty or with '..'); refusing to write it");
}

// How the hub names a file's content: sha256 for LFS files, git blob sha1 otherwise. An etag in
// another form (not the hub's) cannot be checked; "" then.
std::string content_hash(const fs::path& path, const std::string& etag) {
  if (is_hex(etag, 64)) return sha256_file(path.string());
  if (is_hex(etag, 40)) return git_blob_sha1_file(path.string());
  return "";
}

const char* hash_name(const std::string& etag) {
  return is_hex(etag, 64) ? "sha256" : "git sha1";
}

// What a HEAD of `resolve/<commit>/<path>` says about a file.
struct RemoteFile {
  std::string path;
  std::string etag;      // normalised: no W/ prefix, no quotes
  std::string location;  // where to GET it (the CDN for LFS files)
  bool location_is_hub = true;
  uint64_t size = 0;
  bool size_known = false;
};

std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
  return etag;
}

struct Context {
  RepoContext repo;
  std::string commit;
  const FetchOptions* options = nullptr;
  HttpSession* http = nullptr;
  DownloadProgress* progress = nullptr;
};

RemoteFile head_file(Context& c, const std::string& path) {
  std::string url = c.repo.endpoint + "/" + c.repo.repo_id + "/resolve/" + quote(c.commit, false) +
                    "/" + quote(path, true);
  Response r;
  // Relative redirects (a renamed repository) are followed here; an absolute one is the CDN
  // holding an LFS file, which is where the GET goes.
  for (int hops = 0;; ++hops) {
    CURLcode rc = c.http->request("HEAD", url, true, false, r);
    if (rc != CURLE_OK)
      throw_unreachable(c.repo.endpoint, "'" + c.repo.repo_id + "'", c.http->error(rc));
    std::string location = r.header("location");
    if (r.status >= 300 && r.status < 400 && !location.empty() && !is_absolute_url(location) &&
        hops < 10) {
      url = url_origin(url) + (location.front() == '/' ? "" : "/") + location;
      continue;
    }
    break;
  }
  if (r.status >= 400) throw_http_error(r, c.repo, c.commit, path, url);
  RemoteFile f;
  f.path = path;
  std::string etag = r.header("x-linked-etag");
  if (etag.empty()) etag = r.header("etag");
  f.etag = normalize_etag(etag);
  if (f.etag.empty() || f.etag.find('/') != std::string::npos ||
      f.etag.find("..") != std::string::npos)
    throw HubError(Kind::Invalid, "'" + c.repo.repo_id + "' file '" + path +
                                      "': the server sent no usable ETag (X-Linked-Etag / ETag) "
                                      "for " +
                                      url + "; is HF_ENDPOINT a Hugging Face hub?");
  std::string size = r.header("x-linked-size");
  if (size.empty()) size = r.header("content-length");
  if (!size.empty()) {
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

// Downloads `f` into `incomplete` (resuming what is there), checks it, renames it to `target`.
// Returns the bytes transferred.
uint64_t download_file(Context& c, const RemoteFile& f, const fs::path& incomplete,
                       const fs::path& target) {
  std::error_code ec;
  fs::create_directories(incomplete.parent_path(), ec);
  fs::create_directories(target.parent_path(), ec);
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
                           incomplete, {c.options->max_attempts, c.options->retry_wait_s}, events);
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
  progress.checking(std::string("checking ") + hash_name(f.etag) + " of");
  const std::string actual = content_hash(incomplete, f.etag);
  if (!actual.empty() && actual != f.etag) {
    fs::remove(incomplete, ec);
    throw HubError(Kind::Checksum,
                   "'" + c.repo.repo_id + "' file '" + f.path + "': " + hash_name(f.etag) +
                       " of the received bytes is " + actual + ", the hub announced " + f.etag +
                       " (" + f.location + "); the download was discarded, run the fetch again");
  }
  commit_file_atomic(incomplete, target);
  // Blobs are shared read-only data: rw-r--r-- minus the umask, like huggingface_hub.
  mode_t mask = ::umask(0);
  ::umask(mask);
  fs::permissions(target, static_cast<fs::perms>(0644 & ~mask), ec);
  progress.file_done();
  return transferred;
}

// The commit the revision points to now, and the files in it.
std::vector<std::string> list_repo_files(Context& c, const std::string& revision) {
  const std::string api =
      c.repo.endpoint + "/api/models/" + c.repo.repo_id + "/revision/" + quote(revision, false);
  Response r;
  CURLcode rc = c.http->request("GET", api, true, true, r);
  if (rc != CURLE_OK)
    throw_unreachable(c.repo.endpoint, "'" + c.repo.repo_id + "'", c.http->error(rc));
  if (r.status != 200) throw_http_error(r, c.repo, revision, "", api);
  std::vector<std::string> repo_files;
  try {
    auto info = nlohmann::json::parse(r.body);
    c.commit = info.at("sha").get<std::string>();
    for (const auto& s : info.at("siblings")) repo_files.push_back(s.at("rfilename"));
  } catch (const std::exception& e) {
    throw HubError(Kind::Invalid, "unexpected answer from " + api + " (expected JSON with 'sha' " +
                                      "and 'siblings[].rfilename'): " + e.what());
  }
  if (c.commit.empty() || c.commit.find('/') != std::string::npos ||
      c.commit.find("..") != std::string::npos)
    throw HubError(Kind::Invalid, api + " gave an unusable commit '" + c.commit + "'");
  for (const auto& p : repo_files) check_repo_path(c.repo.repo_id, p);
  return repo_files;
}

}  // namespace

FetchResult fetch_model(const std::string& repo_id, const FetchOptions& options) {
  check_repo_id(repo_id);
  if (options.revision.empty() || options.revision.find("..") != std::string::npos)
    throw HubError(Kind::Invalid, "invalid revision '" + options.revision + "'");
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
  HttpSession http(token, options.connect_timeout_s);
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
    FetchedFile done{f.path, f.etag, f.size, false};
    const fs::path blob = repo_dir / "blobs" / f.etag;
    if (to_dir) {
      const fs::path target = out_dir / f.path;
      const fs::path entry = local_download_entry(out_dir, f.path);
      FileLock lock(entry.string() + ".lock");
      auto old = read_local_metadata(out_dir, f.path);
      if (fs::is_regular_file(target, ec) &&
          ((old && old->etag == f.etag) || content_hash(target, f.etag) == f.etag)) {
        progress.skip(f.size);  // same content as the hub's (a fetch of another commit)
      } else if (fs::is_regular_file(blob, ec) && file_size_or_zero(blob) == f.size) {
        copy_file_atomic(blob, target);
        progress.skip(f.size);
      } else {
        fs::path incomplete = entry;
        incomplete += "." + f.etag + ".incomplete";
        result.bytes_downloaded += download_file(c, f, incomplete, target);
        done.downloaded = true;
      }
      write_local_metadata(out_dir, f.path, c.commit, f.etag);
    } else {
      FileLock lock(blob_lock_path(cache, repo_id, f.etag));
      if (!fs::exists(blob, ec)) {
        fs::path incomplete = blob;
        incomplete += ".incomplete";
        result.bytes_downloaded += download_file(c, f, incomplete, blob);
        done.downloaded = true;
      } else {
        progress.skip(f.size);
      }
      link_into_snapshot(blob, out_dir / f.path);
    }
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
