// The Hugging Face cache, shared with Python (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
// `~/.cache/huggingface/hub`), laid out as huggingface_hub writes and reads it:
//
//   models--org--name/
//     blobs/<etag>                       file contents, named by sha256 (LFS) or git sha1
//     snapshots/<commit>/<path>          relative symlinks to ../../blobs/<etag>
//     refs/<revision>                    the commit a branch or tag pointed to when fetched
//
// Nothing here touches the network.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace embedflow::hub {

// "org/name" → "models--org--name" (the cache folder of a model repository).
std::string repo_folder_name(const std::string& repo_id);
// Throws HubError(Invalid) unless `repo_id` looks like "name" or "org/name".
void check_repo_id(const std::string& repo_id);

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
