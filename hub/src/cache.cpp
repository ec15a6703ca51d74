#include "embedflow/hub/cache.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "cache_layout.h"
#include "embedflow/hub/env.h"
#include "embedflow/hub/error.h"
#include "embedflow/hub/resolver.h"
#include "support.h"

namespace embedflow::hub {

namespace fs = std::filesystem;
using Kind = HubError::Kind;

namespace {

bool valid_repo_id(const std::string& id) {
  if (id.empty() || id.size() > 96 + 1 + 96) return false;
  size_t slash = id.find('/');
  if (slash != std::string::npos && id.find('/', slash + 1) != std::string::npos) return false;
  auto part_ok = [](const std::string& p) {
    if (p.empty() || p.size() > 96) return false;
    if (p.front() == '-' || p.front() == '.' || p.back() == '-' || p.back() == '.') return false;
    if (p.find("--") != std::string::npos || p.find("..") != std::string::npos) return false;
    return std::all_of(p.begin(), p.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
  };
  if (slash == std::string::npos) return part_ok(id);
  return part_ok(id.substr(0, slash)) && part_ok(id.substr(slash + 1));
}

}  // namespace

// --- ids -------------------------------------------------------------------------------------

std::string repo_folder_name(const std::string& repo_id) {
  std::string out = "models";
  std::stringstream ss(repo_id);
  std::string part;
  while (std::getline(ss, part, '/')) out += "--" + part;
  return out;
}

void check_repo_id(const std::string& repo_id) {
  if (!valid_repo_id(repo_id))
    throw HubError(Kind::Invalid, "'" + repo_id +
                                      "' is not a hub model id: expected 'org/name' (letters, "
                                      "digits, '-', '_', '.'), e.g. "
                                      "sentence-transformers/all-MiniLM-L6-v2");
}

std::optional<ModelSpec> parse_model_spec(const std::string& spec) {
  ModelSpec s;
  size_t at = spec.find('@');
  s.repo_id = spec.substr(0, at);
  if (at != std::string::npos) {
    s.revision = spec.substr(at + 1);
    if (!is_contained_path(s.revision)) return std::nullopt;
  }
  if (!valid_repo_id(s.repo_id)) return std::nullopt;
  return s;
}

// --- resolution ------------------------------------------------------------------------------

std::string resolve_model_path(const std::string& spec) {
  if (spec.empty()) throw HubError(Kind::Invalid, "empty model path");
  const std::string path = expand_user(spec);
  std::error_code ec;
  if (fs::exists(path, ec)) return path;

  auto parsed = parse_model_spec(spec);
  if (!parsed)
    throw HubError(Kind::NotCached, "model '" + spec +
                                        "': no such file or folder (a hub model is named "
                                        "org/name or org/name@revision)");
  const std::string& repo = parsed->repo_id;
  const std::string revision = parsed->revision.empty() ? "main" : parsed->revision;
  const std::string cache = hub_cache_dir();
  const fs::path repo_dir = fs::path(cache) / repo_folder_name(repo);
  const std::string fetch = "embedflow models fetch " + repo +
                            (parsed->revision.empty() ? "" : " --revision " + revision);
  const std::string todo =
      hub_offline() ? "HF_HUB_OFFLINE is set, so run `" + fetch +
                          "` where there is network and copy the cache folder, or give the "
                          "model folder's path"
                    : "run `" + fetch + "` first, or give the model folder's path";
  const std::string also_not_a_path =
      repo.find('/') == std::string::npos ? "" : " (nor is there a file or folder '" + spec + "')";

  if (!fs::is_directory(repo_dir, ec))
    throw HubError(Kind::NotCached, "model '" + spec + "' is not in the Hugging Face cache " +
                                        cache + also_not_a_path + ": " + todo);

  std::string commit;
  fs::path ref = repo_dir / "refs" / revision;
  if (fs::is_regular_file(ref, ec))
    commit = trim(read_text(ref));
  else if (is_commit_hash(revision))
    commit = revision;
  fs::path snapshot = repo_dir / "snapshots" / commit;
  if (commit.empty() || !fs::is_directory(snapshot, ec)) {
    std::string have;
    for (const auto& r : list_cached_models(cache))
      if (r.repo_id == repo)
        for (const auto& rev : r.revisions) {
          have += (have.empty() ? "" : ", ") + rev.commit.substr(0, 12);
          for (const auto& name : rev.refs) have += " (" + name + ")";
        }
    throw HubError(Kind::NotCached, "revision '" + revision + "' of '" + repo +
                                        "' is not in the cache " + repo_dir.string() +
                                        (have.empty() ? "" : " (cached: " + have + ")") + ": " +
                                        todo);
  }
  return snapshot.string();
}

ModelResolver model_resolver() {
  return [](const std::string& spec) -> std::string {
    try {
      return resolve_model_path(spec);
    } catch (const std::exception&) {
      // Not cached, not an id, or a cache folder that cannot be read: all mean "not here", which
      // a run identity records as a missing model.
      return "";
    }
  };
}

// --- listing ---------------------------------------------------------------------------------

std::vector<CachedRepo> list_cached_models(const std::string& cache_dir) {
  const fs::path cache = cache_dir.empty() ? hub_cache_dir() : cache_dir;
  std::vector<CachedRepo> repos;
  std::error_code ec;
  if (!fs::is_directory(cache, ec)) return repos;
  for (const auto& entry : fs::directory_iterator(cache, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("models--", 0) != 0) continue;
    CachedRepo repo;
    repo.dir = entry.path().string();
    std::string rest = name.substr(8);
    for (size_t pos; (pos = rest.find("--")) != std::string::npos;) rest.replace(pos, 2, "/");
    repo.repo_id = rest;

    std::map<std::string, std::vector<std::string>> refs_of;  // commit → refs
    const fs::path refs = entry.path() / "refs";
    if (fs::is_directory(refs, ec))
      for (const auto& r : fs::recursive_directory_iterator(refs, ec))
        // NAME.tmp-<pid> is a ref write a crash interrupted (AtomicFile), not a ref.
        if (r.is_regular_file() && r.path().filename().string().find(".tmp-") == std::string::npos)
          refs_of[trim(read_text(r.path()))].push_back(
              fs::relative(r.path(), refs, ec).generic_string());

    const fs::path snapshots = entry.path() / "snapshots";
    if (fs::is_directory(snapshots, ec))
      for (const auto& s : fs::directory_iterator(snapshots, ec)) {
        if (!s.is_directory()) continue;
        CachedRevision rev;
        rev.commit = s.path().filename().string();
        rev.refs = refs_of[rev.commit];
        std::sort(rev.refs.begin(), rev.refs.end());
        for (const auto& f : fs::recursive_directory_iterator(s.path(), ec))
          if (f.is_symlink() || f.is_regular_file()) ++rev.files;
        repo.revisions.push_back(rev);
      }
    std::sort(repo.revisions.begin(), repo.revisions.end(),
              [](const CachedRevision& a, const CachedRevision& b) { return a.commit < b.commit; });

    const fs::path blobs = entry.path() / "blobs";
    if (fs::is_directory(blobs, ec))
      for (const auto& b : fs::directory_iterator(blobs, ec)) {
        if (!b.is_regular_file()) continue;
        if (b.path().extension() == ".incomplete")
          ++repo.incomplete;
        else
          repo.size_on_disk += file_size_or_zero(b.path());
      }
    repos.push_back(std::move(repo));
  }
  std::sort(repos.begin(), repos.end(),
            [](const CachedRepo& a, const CachedRepo& b) { return a.repo_id < b.repo_id; });
  return repos;
}

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  const char* units[] = {"KB", "MB", "GB", "TB", "PB"};
  double v = double(bytes);
  int u = -1;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

// --- writing ---------------------------------------------------------------------------------

FileLock::FileLock(const fs::path& path, double timeout_s) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw HubError(Kind::Io,
                   "cannot create lock file " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  std::cerr << "waiting for another download holding " << path.string() << "\n";
  // Polled, not a blocking flock: a holder that never finishes (a hung process, a lock on a
  // network file system) must not hang the fetch forever. A crashed holder releases it itself.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      const int err = errno;
      ::close(fd_);
      throw HubError(Kind::Io, "cannot lock " + path.string() + ": " + std::strerror(err));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd_);
      char waited[32];
      std::snprintf(waited, sizeof waited, "%.0f", timeout_s);
      throw HubError(Kind::Io,
                     "another process (a fetch of the same file, from embedflow or "
                     "huggingface_hub) still holds the lock " +
                         path.string() + " after " + waited +
                         " s: let it finish and run the fetch again; `fuser " + path.string() +
                         "` shows which process it is");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

fs::path blob_lock_path(const fs::path& cache, const std::string& repo_id,
                        const std::string& etag) {
  return cache / ".locks" / repo_folder_name(repo_id) / (etag + ".lock");
}

void link_into_snapshot(const fs::path& blob, const fs::path& pointer) {
  std::error_code ec;
  fs::create_directories(pointer.parent_path(), ec);
  fs::remove(pointer, ec);
  // Lexical, like os.path.relpath: the cache folder can be moved or mounted elsewhere.
  fs::path relative = fs::absolute(blob).lexically_relative(fs::absolute(pointer.parent_path()));
  if (relative.empty()) relative = fs::absolute(blob);
  fs::create_symlink(relative, pointer, ec);
  if (ec)
    throw HubError(Kind::Io, "cannot create " + pointer.string() + " -> " + relative.string() +
                                 ": " + ec.message());
}

void write_ref(const fs::path& repo_dir, const std::string& revision, const std::string& commit) {
  if (!is_contained_path(revision))  // fetch_model refuses these; never write outside refs/
    throw HubError(Kind::Invalid, "invalid revision '" + revision + "'");
  const fs::path ref = repo_dir / "refs" / revision;
  std::error_code ec;
  if (!fs::is_regular_file(ref, ec) || trim(read_text(ref)) != commit)
    write_file_atomic(ref, commit);
}

}  // namespace embedflow::hub
