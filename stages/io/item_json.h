// Small pieces shared by the writers: JSON text for ids and metadata that never throws on odd
// bytes, and shortest round-trip formatting of tensor values.
#pragma once

#include <string>

#include "embedflow/item.h"

namespace embedflow::io {

// Compact JSON; invalid UTF-8 (a file name in Latin-1) becomes U+FFFD instead of throwing.
std::string json_text(const Json& v);
// The shortest text that reads back as the same float ("0.1", not "0.10000000149011612");
// NaN and infinities, which JSON cannot hold, as `null`.
void append_number(std::string& out, float v);
// A tensor's values, flattened in C order, as a JSON array.
void append_values(std::string& out, const Tensor& t);
// "[2, 3]" as a JSON array "[2,3]".
std::string shape_json(const Tensor& t);

}  // namespace embedflow::io
