#pragma once
// What a push message says (PROTOCOL.md §8), before it is encrypted:
// {"conv","seq","sender","title","body"}. Pure functions.
#include <string>
#include <string_view>

#include "common/model.h"
#include "store/push_records.h"

namespace parley::push {

// A pushed body holds at most this many characters (code points).
inline constexpr size_t kMaxBodyChars = 200;

// `text` (valid UTF-8) cut to at most `max_chars` code points: when longer,
// its first max_chars - 1 and "…". Never splits a character.
std::string CutToChars(std::string_view text, size_t max_chars);

// The JSON of the push of text entry `entry`: the title is the group's
// title, or the sender's display name in a DM.
std::string PayloadJson(const Message& entry, const store::PushAudience& audience);

}  // namespace parley::push
