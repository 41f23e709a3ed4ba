// Hex and base64 text forms of binary ids and bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spanpipe {

// Lowercase hex of the bytes.
std::string HexEncode(std::string_view bytes);
void HexEncodeTo(const uint8_t* bytes, size_t n, char* out);  // writes 2n chars
// Accepts upper or lower case; false on odd length or a non-hex character.
bool HexDecode(std::string_view hex, std::string* out);
bool HexDecodeTo(std::string_view hex, uint8_t* out, size_t out_len);  // hex.size() must be 2*out_len

std::string Base64Encode(std::string_view bytes);
// Standard or URL-safe alphabet, padding optional; false on bad input.
bool Base64Decode(std::string_view text, std::string* out);

}  // namespace spanpipe
