#pragma once
// Strong ids. Every id is a positive 64-bit integer inside the server and a
// decimal string on the wire (64-bit values do not survive JavaScript numbers).
#include <charconv>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

template <class Tag>
struct Id {
  int64_t value = 0;

  constexpr Id() = default;
  constexpr explicit Id(int64_t v) : value(v) {}
  constexpr bool valid() const noexcept { return value > 0; }
  std::string ToString() const { return std::to_string(value); }

  // Parses a wire id: decimal digits only, positive, no sign or spaces.
  static std::optional<Id> Parse(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v <= 0 || s[0] == '+') return std::nullopt;
    return Id(v);
  }

  friend constexpr auto operator<=>(const Id&, const Id&) = default;
};

using UserId = Id<struct UserTag>;
using ConversationId = Id<struct ConversationTag>;
using MessageId = Id<struct MessageTag>;
using UploadId = Id<struct UploadTag>;  // PROTOCOL.md §6: drawn at random, so not enumerable

// Milliseconds since the Unix epoch.
using TimeMs = int64_t;

}  // namespace parley

template <class Tag>
struct std::hash<parley::Id<Tag>> {
  size_t operator()(const parley::Id<Tag>& id) const noexcept { return std::hash<int64_t>()(id.value); }
};
