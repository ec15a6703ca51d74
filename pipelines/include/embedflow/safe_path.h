// Item ids and stage ids become file and folder names (write.npy per_item, write.png, a job's
// spool folders). They come from users' data, so they are made into relative paths that stay
// inside the output folder before they touch the file system.
#pragma once

#include <string>

namespace embedflow {

// A relative path that stays inside its folder: empty and "." components are dropped, ".."
// becomes "__", a leading "/" is dropped, NUL becomes "_"; "/" and "\" separate components.
// "" when nothing is left. "../../tmp/evil" → "__/__/tmp/evil"; "./cat" → "cat".
std::string safe_relative_path(const std::string& name);

}  // namespace embedflow
