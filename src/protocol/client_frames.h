#pragma once
// The client half of PROTOCOL.md section 2: the text of every client
// request, and every server answer and event read back into a typed value.
// The server half is frames.h: a request built here parses there into the
// same struct, and a frame built there parses here into the same values
// (client_frames_test.cc holds both round trips). Pure: no I/O.
//
// Requests are written straight into a string, without a DOM, so a load
// generator can build them on its hot path. Answers and events are read
// strictly for what PROTOCOL.md promises; a frame type this client does not
// know comes back as UnknownFrame (a newer server's events are ignored, not
// errors).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/fwd.hpp>

#include "common/ids.h"
#include "common/model.h"
#include "common/result.h"
#include "protocol/frames.h"
#include "protocol/http_bodies.h"

namespace parley::protocol {

// ---- requests (the structs are frames.h's, shared with the server) --------------
// Appends the frame of `request` to `out`, with "id" when `id` is set (a
// request that wants an answer carries one; `typing` needs none).
void AppendRequest(const Request& request, std::optional<int64_t> id, std::string* out);
void AppendRequest(const HelloReq& r, std::optional<int64_t> id, std::string* out);
void AppendRequest(const SendReq& r, std::optional<int64_t> id, std::string* out);
void AppendRequest(const HistoryReq& r, std::optional<int64_t> id, std::string* out);
// The frame of `request` as a new string.
std::string BuildRequest(const Request& request, std::optional<int64_t> id);
// The wire "type" of a request ("send", "add_member", ...).
std::string_view RequestType(const Request& request);

// ---- answers (they carry "re": the id of the request) ----------------------------
struct Welcome {
  int64_t re = 0;
  User user;
  std::string session;
  int heartbeat_ms = 0;
  std::vector<Conversation> conversations;

  bool operator==(const Welcome&) const = default;
};
struct Sent {
  int64_t re = 0;
  ConversationId conv;
  int64_t seq = 0;
  MessageId id;
  TimeMs ts = 0;

  bool operator==(const Sent&) const = default;
};
struct HistoryAnswer {
  int64_t re = 0;
  ConversationId conv;
  std::vector<Message> messages;

  bool operator==(const HistoryAnswer&) const = default;
};
struct OkAnswer {
  int64_t re = 0;

  bool operator==(const OkAnswer&) const = default;
};
struct Pong {
  int64_t re = 0;
  TimeMs ts = 0;

  bool operator==(const Pong&) const = default;
};
struct ConversationAnswer {  // to create_group and dm
  int64_t re = 0;
  Conversation conversation;

  bool operator==(const ConversationAnswer&) const = default;
};
struct PresenceList {  // to presence
  int64_t re = 0;
  std::vector<PresenceEntry> users;

  bool operator==(const PresenceList&) const = default;
};
// An error: the answer to a request (with `re`), or about a frame whose id
// could not be read (without).
struct ErrorAnswer {
  std::optional<int64_t> re;
  ServerError error;

  bool operator==(const ErrorAnswer&) const = default;
};

// ---- events (no "re") ------------------------------------------------------------
// A `message` event is a Message; a `presence` event a PresenceEntry.
struct TypingNotice {
  ConversationId conv;
  UserId user;

  bool operator==(const TypingNotice&) const = default;
};
struct ReadNotice {
  ConversationId conv;
  UserId user;
  int64_t seq = 0;

  bool operator==(const ReadNotice&) const = default;
};
struct MemberNotice {
  ConversationId conv;
  UserId user;
  std::string action;                        // "added", "removed", "left"; 1.1: "banned", "role"
  std::optional<Conversation> conversation;  // given to the added user
  std::optional<Role> role{};                // with "role": the user's new role

  bool operator==(const MemberNotice&) const = default;
};
struct Gap {
  ConversationId conv;
  int64_t from_seq = 0;  // inclusive
  int64_t to_seq = 0;    // inclusive

  bool operator==(const Gap&) const = default;
};
// 1.1 (§7): a group's title or topic changed.
struct GroupUpdated {
  ConversationId conv;
  std::string title;
  std::string topic;
  UserId by;

  bool operator==(const GroupUpdated&) const = default;
};
// A frame of a type this client does not know.
struct UnknownFrame {
  std::optional<int64_t> re;
  std::string type;

  bool operator==(const UnknownFrame&) const = default;
};

using ServerFrame = std::variant<Welcome, Sent, HistoryAnswer, OkAnswer, Pong, ConversationAnswer,
                                 PresenceList, ErrorAnswer, Message, TypingNotice, ReadNotice, PresenceEntry,
                                 MemberNotice, Gap, UnknownFrame, GroupUpdated>;

// Reads one server text frame. A kBadRequest error names the frame type and
// the field: "sent: missing field 'seq'".
Result<ServerFrame> ParseServerFrame(std::string_view text);
Result<ServerFrame> ParseServerFrame(const boost::json::object& frame);

// The "re" of an answer; nullopt for an event.
std::optional<int64_t> ReOf(const ServerFrame& frame);

}  // namespace parley::protocol
