// `fetch --to DIR`: the download metadata huggingface_hub keeps for a `--local-dir` folder, so
// reruns (from embedflow or Python) skip files that are already there.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace embedflow::hub {

// DIR/.cache/huggingface/download/<path>.metadata holds "commit\netag\ntimestamp\n".
struct LocalMetadata {
  std::string commit, etag;
  double timestamp = 0;
};

// DIR/.cache/huggingface/download/<path>: the metadata file's name without its extension.
std::filesystem::path local_download_entry(const std::filesystem::path& dir,
                                           const std::string& path);

// The metadata of DIR/<path>, unless there is none or the file was modified after it was written
// (then its content must be checked).
std::optional<LocalMetadata> read_local_metadata(const std::filesystem::path& dir,
                                                 const std::string& path);
void write_local_metadata(const std::filesystem::path& dir, const std::string& path,
                          const std::string& commit, const std::string& etag);

}  // namespace embedflow::hub
