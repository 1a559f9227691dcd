#pragma once
// Internal to parley_client: ASCII case folding for HTTP header names and
// URL schemes and hosts (which compare without case).
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace parley::client::detail {

inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace parley::client::detail
