#pragma once
// UTF-8 checks and cuts. Text that goes into a JSON string or a WebSocket
// text frame must stay valid UTF-8, so a length limit never cuts inside a
// character. Pure functions.
#include <cstddef>
#include <string_view>

namespace parley::protocol {

// True when `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` bytes that does not end
// inside a multi-byte character (for valid UTF-8 `s` the prefix is valid
// UTF-8 too). A character is never split: it is dropped whole.
std::string_view Utf8Prefix(std::string_view s, size_t max_bytes);

}  // namespace parley::protocol
