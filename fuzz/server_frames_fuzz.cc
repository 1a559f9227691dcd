// Fuzzes the client's half of the wire format (protocol::ParseServerFrame):
// what the CLI, the load generator and the tests read from a server, which
// may be any server a user points them at. Checks that:
// - nothing crashes, and every refusal says what is wrong;
// - the two halves agree: a frame the client accepts, written again by the
//   server's serializer (frames.h), parses back to the same value once it
//   has been through one such normalization (parse, write, parse, write,
//   parse: the last two values are equal). A frame whose values the server
//   would write differently from what the client read is a disagreement
//   between the halves, which is what this finds.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "protocol/client_frames.h"
#include "protocol/frames.h"

using namespace parley;
using namespace parley::protocol;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// The server's text for `frame`, when frames.h writes frames of its kind.
std::optional<std::string> Write(const ServerFrame& frame) {
  return std::visit(
      [](const auto& f) -> std::optional<std::string> {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, Message>) {
          return MessageEvent(f);
        } else if constexpr (std::is_same_v<T, Sent>) {
          Message m;
          m.conv = f.conv;
          m.seq = f.seq;
          m.id = f.id;
          m.ts = f.ts;
          return SentFrame(f.re, m);
        } else if constexpr (std::is_same_v<T, HistoryAnswer>) {
          return HistoryFrame(f.re, f.conv, f.messages);
        } else if constexpr (std::is_same_v<T, OkAnswer>) {
          return OkFrame(f.re);
        } else if constexpr (std::is_same_v<T, Pong>) {
          return PongFrame(f.re, f.ts);
        } else if constexpr (std::is_same_v<T, ConversationAnswer>) {
          return ConversationFrame(f.re, f.conversation);
        } else if constexpr (std::is_same_v<T, Welcome>) {
          return WelcomeFrame(f.re, f.user, f.session, f.heartbeat_ms, f.conversations);
        } else if constexpr (std::is_same_v<T, PresenceList>) {
          return PresenceAnswer(f.re, f.users);
        } else if constexpr (std::is_same_v<T, PresenceEntry>) {
          return PresenceEvent(f.user, f.username, f.online, f.last_seen);
        } else if constexpr (std::is_same_v<T, Gap>) {
          return GapEvent(f.conv, f.from_seq, f.to_seq);
        } else if constexpr (std::is_same_v<T, TypingNotice>) {
          return TypingEvent(f.conv, f.user);
        } else if constexpr (std::is_same_v<T, ReadNotice>) {
          return ReadEvent(f.conv, f.user, f.seq);
        } else if constexpr (std::is_same_v<T, GroupUpdated>) {
          return GroupUpdatedEvent(f.conv, f.title, f.topic, f.by);
        } else if constexpr (std::is_same_v<T, MemberNotice>) {
          if (f.action == "role" && f.role) return MemberRoleEvent(f.conv, f.user, *f.role);
          if (f.action == "role") return std::nullopt;
          return MemberEvent(f.conv, f.user, f.action, f.conversation ? &*f.conversation : nullptr);
        } else {
          return std::nullopt;  // errors and unknown types: nothing of the server's to compare with
        }
      },
      frame);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<ServerFrame> first = ParseServerFrame(text);
  if (!first) {
    Check(!first.error().message.empty());
    return 0;
  }
  std::optional<std::string> written = Write(*first);
  if (!written) return 0;
  Result<ServerFrame> second = ParseServerFrame(*written);
  Check(second.ok());  // the server's own text always parses
  std::optional<std::string> rewritten = Write(*second);
  Check(rewritten.has_value());
  Result<ServerFrame> third = ParseServerFrame(*rewritten);
  Check(third.ok());
  Check(*second == *third);
  Check(*written == *rewritten);
  return 0;
}
