#pragma once
// UTF-8 decoding for the store: what the search language splits into words
// and what PostgreSQL accepts as text both need the code points of a string
// and to refuse what is not UTF-8. Pure functions; any thread.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace parley::store {

// One character: its code point and its length in bytes.
struct Utf8Char {
  uint32_t cp = 0;
  size_t len = 0;
};

// The character that starts at s[i] (i < s.size()); nullopt when it is not
// valid UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
std::optional<Utf8Char> DecodeUtf8(std::string_view s, size_t i);

}  // namespace parley::store
