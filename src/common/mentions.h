#pragma once
// `@username` in a message body (PROTOCOL.md §5): which usernames a body
// names. Whether they are members, and so mentioned, is the store's to say
// at commit time. Pure.
#include <string>
#include <string_view>
#include <vector>

namespace parley {

// The folded usernames named as `@name` in `body`, each once, in order of
// first appearance. A name is matched without regard to case and ends at the
// first character that cannot be in a username ([a-z0-9_.-] after folding);
// a trailing `.` or `-` is not part of it (so "@bob." names bob). Names
// shorter than 3 or longer than 32 characters are not usernames and are
// skipped. At most `max` names (the store keeps at most kMaxMentions members
// of them; a few more are read so non-members do not crowd members out).
std::vector<std::string> MentionedNames(std::string_view body, size_t max = 200);

}  // namespace parley
