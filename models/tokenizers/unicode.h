// UTF-8 decoding and Unicode properties shared by the tokenizers (utf8proc underneath).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace embedflow::tokenizers {

// Decodes UTF-8; throws std::invalid_argument naming the byte offset of the first invalid
// sequence.
std::vector<char32_t> decode_utf8(const std::string& s);
std::string encode_utf8(const std::vector<char32_t>& cps);
void append_utf8(std::string& out, char32_t cp);
bool is_valid_utf8(const std::string& s);

}  // namespace embedflow::tokenizers
