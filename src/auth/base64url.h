#pragma once
// base64url (RFC 4648 section 5) without padding, as JWTs use it.
#include <string>
#include <string_view>

namespace parley::auth {

std::string Base64UrlEncode(std::string_view data);

// Strict decoding: rejects padding, characters outside the alphabet,
// impossible lengths and non-zero trailing bits, so each byte string has
// exactly one accepted encoding. Returns false (and leaves `out` unspecified)
// on bad input.
bool Base64UrlDecode(std::string_view text, std::string& out);

}  // namespace parley::auth
