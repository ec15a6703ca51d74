// Models from the Hugging Face hub, shared with Python through the standard cache.
//
// `fetch_model` downloads what a model needs with libcurl into the cache layout that
// huggingface_hub writes and reads (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
// `~/.cache/huggingface/hub`):
//
//   models--org--name/
//     blobs/<etag>                       file contents, named by sha256 (LFS) or git sha1
//     snapshots/<commit>/<path>          relative symlinks to ../../blobs/<etag>
//     refs/<revision>                    the commit a branch or tag pointed to when fetched
//
// so a model fetched by `hf_hub_download`/`snapshot_download` is reused without a download and
// the other way round. `resolve_model_path` turns what a user wrote in a pipeline (a path, or a
// hub id `org/name[@revision]`) into a local folder, never touching the network.
//
// Torch-free; the HTTP client is libcurl.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace embedflow::hub {

// A failure users can act on. `kind` lets callers (and tests) tell the cases apart.
class HubError : public std::runtime_error {
 public:
  enum class Kind {
    Network,       // the endpoint could not be reached, or the transfer kept failing
    NotFound,      // unknown repository, revision or file
    Unauthorized,  // private or gated repository without a valid token
    Checksum,      // the bytes received differ from the hub's sha256 / git sha1 / size
    Offline,       // HF_HUB_OFFLINE is set
    NotCached,     // a hub id that is not in the local cache
    Invalid,       // a malformed repo id, spec or server answer
    Io,            // the cache or destination folder could not be written
  };
  HubError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// --- Environment, as huggingface_hub reads it ------------------------------------------------

std::string hub_cache_dir();  // HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > HF_HOME/hub >
                              // XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub
std::string hub_endpoint();   // HF_ENDPOINT without a trailing '/', default https://huggingface.co
bool hub_offline();           // HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is 1/true/yes/on
std::string hub_token();      // HF_TOKEN, else the file HF_TOKEN_PATH or $HF_HOME/token; "" if none

// "org/name" → "models--org--name" (the cache folder of a model repository).
std::string repo_folder_name(const std::string& repo_id);
// Throws HubError(Invalid) unless `repo_id` looks like "name" or "org/name".
void check_repo_id(const std::string& repo_id);

// --- Resolving what a pipeline names ---------------------------------------------------------

struct ModelSpec {
  std::string repo_id;   // "org/name"
  std::string revision;  // "" when not given (means "main")
};

// "org/name" or "org/name@revision" → the parts; nullopt when `spec` does not look like a hub id.
std::optional<ModelSpec> parse_model_spec(const std::string& spec);

// An existing file or folder is returned as is. A hub id resolves to the cached snapshot folder
// of its revision (default "main"; refs/<revision> gives the commit, a commit hash works
// directly). Never downloads: a model that is not cached throws HubError(NotCached) telling the
// user to run `embedflow models fetch org/name`.
std::string resolve_model_path(const std::string& spec);

// --- Fetching --------------------------------------------------------------------------------

enum class ProgressMode { Auto, On, Off };  // Auto: a bar when stderr is a terminal

struct FetchOptions {
  std::string revision = "main";     // branch, tag or commit hash
  std::string to_dir;                // "" = the cache; else a plain folder (see fetch_model)
  std::vector<std::string> include;  // globs over repo paths; non-empty replaces the default pick
  bool all_files = false;            // every file of the repository
  std::string endpoint;              // "" = hub_endpoint()
  std::string token;                 // "" = hub_token()
  std::string cache_dir;             // "" = hub_cache_dir()
  ProgressMode progress = ProgressMode::Auto;
  int max_attempts = 5;         // per file, for transfers cut midway (each resumes with Range)
  double retry_wait_s = 0.5;    // first wait between attempts; doubles, capped at 8 s
  long connect_timeout_s = 10;  // also the stall timeout: no byte for 3x this fails the attempt
};

struct FetchedFile {
  std::string path;         // path inside the repository ("1_Pooling/config.json")
  std::string etag;         // sha256 for LFS files, git blob sha1 otherwise
  uint64_t size = 0;        // bytes
  bool downloaded = false;  // false: it was already there (or copied from the cache)
};

struct FetchResult {
  std::string repo_id;
  std::string commit;                // the commit the revision pointed to
  std::string dir;                   // the snapshot folder, or to_dir
  std::vector<FetchedFile> files;    // what the folder now holds for this model
  std::vector<std::string> skipped;  // repository files left out by the default pick
  uint64_t bytes_downloaded = 0;
};

// Which files of a repository a model needs: everything except the weight formats embedflow does
// not read (ONNX, TF/Keras, Flax, Rust, OpenVINO, Core ML, GGUF) and, when safetensors weights
// exist, the PyTorch pickles they duplicate. `include` globs (fnmatch, `*` crosses '/', a
// trailing '/' means the whole folder) replace this pick; `all_files` keeps everything.
// Returns the kept paths in repository order; the others go to `skipped` when given.
std::vector<std::string> select_files(const std::vector<std::string>& repo_files,
                                      const FetchOptions& options,
                                      std::vector<std::string>* skipped = nullptr);

// Downloads `repo_id` at options.revision: `GET {endpoint}/api/models/{repo}/revision/{rev}` for
// the commit and file list, then per file a HEAD and a GET of
// `{endpoint}/{repo}/resolve/{commit}/{path}`. Each file is written to an `.incomplete` file,
// resumed with HTTP Range after a cut, checked against the size and the etag (sha256 for LFS
// files, git blob sha1 otherwise), then renamed into place; refs/<revision> is written once every
// file is in. With `to_dir` the files land as plain files in that folder, with the download
// metadata huggingface_hub keeps for `--local-dir` (`.cache/huggingface/download/`), and blobs
// already in the cache are copied instead of downloaded. Files already present are not fetched
// again. Throws HubError naming the repository, file and URL.
FetchResult fetch_model(const std::string& repo_id, const FetchOptions& options = {});

// --- The cache -------------------------------------------------------------------------------

struct CachedRevision {
  std::string commit;
  std::vector<std::string> refs;  // branches/tags that point to it ("main", "v1.0")
  size_t files = 0;               // files in its snapshot folder
};

struct CachedRepo {
  std::string repo_id;  // "org/name"
  std::string dir;      // .../models--org--name
  std::vector<CachedRevision> revisions;
  uint64_t size_on_disk = 0;  // bytes of its blobs (each blob once, however many snapshots)
  size_t incomplete = 0;      // unfinished downloads (`.incomplete` blobs), resumable
};

// Model repositories in `cache_dir` ("" = hub_cache_dir()), sorted by id. Missing cache → empty.
std::vector<CachedRepo> list_cached_models(const std::string& cache_dir = "");

// "1.5 KB", "23.4 MB" (powers of 1000, like huggingface-cli scan-cache).
std::string format_bytes(uint64_t bytes);

}  // namespace embedflow::hub
