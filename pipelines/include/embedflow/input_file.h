// Checks that an item's input path names a regular file this process can read, before a decoder
// touches it. Decoders must not open anything else: opening a FIFO blocks until a writer comes
// (a run hung forever on one in a file list), and a device never ends. The messages say what the
// path really is, with errno's wording ("Permission denied" for a file inside a folder the user
// cannot enter, not "no such file").
#pragma once

#include <cstdint>
#include <string>

namespace embedflow {

// Throws ItemFailure naming `path`; returns the file's size in bytes.
uint64_t check_input_file(const std::string& path);

// What stands at `path` when it is not a regular file ("a FIFO (named pipe)", "a directory", "a
// symbolic link", …); "" when it is a regular file or absent. `follow_links` false: a symlink is
// reported as such (an output path a writer would replace), true: its target is (an input).
std::string non_regular_file_kind(const std::string& path, bool follow_links);

}  // namespace embedflow
