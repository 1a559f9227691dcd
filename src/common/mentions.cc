#include "common/mentions.h"

#include <algorithm>

namespace parley {
namespace {

constexpr size_t kMinUsername = 3;
constexpr size_t kMaxUsername = 32;

// The folded form of a username character, or 0 when `c` cannot be in one.
char UsernameChar(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-') return c;
  return 0;
}

}  // namespace

std::vector<std::string> MentionedNames(std::string_view body, size_t max) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < body.size() && out.size() < max) {
    if (body[i] != '@') {
      ++i;
      continue;
    }
    std::string name;
    size_t j = i + 1;
    for (; j < body.size(); ++j) {
      const char c = UsernameChar(body[j]);
      if (c == 0) break;
      name.push_back(c);
    }
    while (!name.empty() && (name.back() == '.' || name.back() == '-')) name.pop_back();
    if (name.size() >= kMinUsername && name.size() <= kMaxUsername &&
        std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(std::move(name));
    }
    i = j;
  }
  return out;
}

}  // namespace parley
