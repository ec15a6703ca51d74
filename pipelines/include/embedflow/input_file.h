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

}  // namespace embedflow
