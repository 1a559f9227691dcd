#pragma once
// Wire protocol v1: typed client requests, and the JSON text of every answer
// and event. Pure: no I/O, no clocks, no locks. See docs/protocol.md.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json/fwd.hpp>

#include "common/error.h"
#include "common/ids.h"
#include "common/result.h"
#include "common/model.h"

namespace parley::protocol {

// ---- client requests ---------------------------------------------------------
struct HelloReq {
  std::string token;
  std::vector<std::pair<ConversationId, int64_t>> last_seq;
  bool all = false;  // "last_seq":"all"
};
struct SendReq {
  ConversationId conv;
  std::string client_msg_id;
  std::string body;
};
struct HistoryReq {
  ConversationId conv;
  std::optional<int64_t> before;
  std::optional<int64_t> after;
  int limit = 50;
};
struct ReadReq {
  ConversationId conv;
  int64_t seq = 0;
};
struct TypingReq {
  ConversationId conv;
};
struct CreateGroupReq {
  std::string title;
  std::vector<std::string> members;
};
struct DmReq {
  std::string username;
};
struct MemberReq {
  ConversationId conv;
  std::string username;
  bool add = true;  // add_member or remove_member
};
struct LeaveReq {
  ConversationId conv;
};
struct PresenceReq {
  std::vector<UserId> users;
};
struct PingReq {};

using Request = std::variant<HelloReq, SendReq, HistoryReq, ReadReq, TypingReq, CreateGroupReq, DmReq,
                             MemberReq, LeaveReq, PresenceReq, PingReq>;

// The outcome of parsing one client text frame.
struct Parsed {
  std::optional<int64_t> id;  // the frame's "id", when it could be read
  bool not_json = false;      // the text is not JSON at all (counts toward close 1008)
  std::optional<Request> request;
  Error error;  // when !request
};

inline constexpr int kMaxPresenceQuery = 500;
inline constexpr int kMaxHistoryLimit = 500;
inline constexpr int kDefaultHistoryLimit = 50;

Parsed ParseClientFrame(std::string_view text);

// ---- JSON values of PROTOCOL.md section 1 -------------------------------------
boost::json::object ToJson(const User& user);
boost::json::object ToJson(const Member& member);
boost::json::object ToJson(const Conversation& conv);
boost::json::object ToJson(const Message& message);
boost::json::object ErrorBody(const Error& error);  // {"error":{"code","message"}}

// ---- server frames (serialized once, shared by every recipient) ---------------
std::string WelcomeFrame(int64_t re, const User& user, std::string_view session, int heartbeat_ms,
                         const std::vector<Conversation>& conversations);
std::string SentFrame(int64_t re, const Message& message);
std::string MessageEvent(const Message& message);
std::string HistoryFrame(int64_t re, ConversationId conv, const std::vector<Message>& messages);
std::string OkFrame(int64_t re);
std::string PongFrame(int64_t re, TimeMs ts);
std::string ConversationFrame(int64_t re, const Conversation& conv);
std::string ErrorFrame(std::optional<int64_t> re, const Error& error);
std::string GapEvent(ConversationId conv, int64_t from_seq, int64_t to_seq);
std::string TypingEvent(ConversationId conv, UserId user);
std::string ReadEvent(ConversationId conv, UserId user, int64_t seq);
std::string PresenceEvent(UserId user, std::string_view username, bool online,
                          std::optional<TimeMs> last_seen);
// action: "added" | "removed" | "left"; conversation given to the added user.
std::string MemberEvent(ConversationId conv, UserId user, std::string_view action,
                        const Conversation* conversation);
struct PresenceEntry {
  UserId user;
  std::string username;
  bool online = false;
  std::optional<TimeMs> last_seen;
};
std::string PresenceAnswer(int64_t re, const std::vector<PresenceEntry>& users);

// True when `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace parley::protocol
