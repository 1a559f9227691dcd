#pragma once
// Wire protocol v1, the server half: typed client requests as the server
// parses them, and the JSON text of every answer and event it sends. The
// client half (building requests, parsing answers) is client_frames.h and
// http_bodies.h; both use json.h. Pure: no I/O, no clocks, no locks. See
// docs/protocol.md.
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
#include "protocol/utf8.h"

namespace parley::protocol {

// ---- client requests ---------------------------------------------------------
struct HelloReq {
  std::string token;
  std::vector<std::pair<ConversationId, int64_t>> last_seq;
  bool all = false;  // "last_seq":"all"

  bool operator==(const HelloReq&) const = default;
};
struct SendReq {
  ConversationId conv;
  std::string client_msg_id;
  std::string body;
  std::optional<int64_t> reply_to{};    // 1.1: the seq of a text entry answered
  std::vector<UploadId> attachments{};  // 1.1 (§6): at most kMaxAttachments; the body may then be ""

  bool operator==(const SendReq&) const = default;
};
// 1.1 (PROTOCOL.md §5): changes to a text entry, each an entry of its own.
struct EditReq {
  ConversationId conv;
  int64_t seq = 0;
  std::string body;
  std::string client_msg_id;

  bool operator==(const EditReq&) const = default;
};
struct DeleteReq {
  ConversationId conv;
  int64_t seq = 0;
  std::string client_msg_id;

  bool operator==(const DeleteReq&) const = default;
};
struct ReactReq {
  ConversationId conv;
  int64_t seq = 0;
  std::string emoji;
  ReactionOp op = ReactionOp::kAdd;
  std::string client_msg_id;

  bool operator==(const ReactReq&) const = default;
};
struct HistoryReq {
  ConversationId conv;
  std::optional<int64_t> before;
  std::optional<int64_t> after;
  int limit = 50;

  bool operator==(const HistoryReq&) const = default;
};
struct ReadReq {
  ConversationId conv;
  int64_t seq = 0;

  bool operator==(const ReadReq&) const = default;
};
struct TypingReq {
  ConversationId conv;

  bool operator==(const TypingReq&) const = default;
};
struct CreateGroupReq {
  std::string title;
  std::vector<std::string> members;

  bool operator==(const CreateGroupReq&) const = default;
};
struct DmReq {
  std::string username;

  bool operator==(const DmReq&) const = default;
};
struct MemberReq {
  ConversationId conv;
  std::string username;
  bool add = true;  // add_member or remove_member

  bool operator==(const MemberReq&) const = default;
};
struct LeaveReq {
  ConversationId conv;

  bool operator==(const LeaveReq&) const = default;
};
struct PresenceReq {
  std::vector<UserId> users;

  bool operator==(const PresenceReq&) const = default;
};
struct PingReq {
  bool operator==(const PingReq&) const = default;
};
// 1.1 (PROTOCOL.md §7): running a group.
struct SetRoleReq {
  ConversationId conv;
  std::string username;
  Role role = Role::kMember;  // kAdmin or kMember

  bool operator==(const SetRoleReq&) const = default;
};
struct TransferReq {
  ConversationId conv;
  std::string username;

  bool operator==(const TransferReq&) const = default;
};
struct BanReq {
  ConversationId conv;
  std::string username;
  bool ban = true;  // ban or unban

  bool operator==(const BanReq&) const = default;
};
struct UpdateGroupReq {
  ConversationId conv;
  std::optional<std::string> title;
  std::optional<std::string> topic;

  bool operator==(const UpdateGroupReq&) const = default;
};

// 1.1 (PROTOCOL.md §8): the caller's notification level in a conversation.
struct NotifyReq {
  ConversationId conv;
  NotifyLevel level = NotifyLevel::kAll;

  bool operator==(const NotifyReq&) const = default;
};

using Request = std::variant<HelloReq, SendReq, HistoryReq, ReadReq, TypingReq, CreateGroupReq, DmReq,
                             MemberReq, LeaveReq, PresenceReq, PingReq, EditReq, DeleteReq, ReactReq,
                             SetRoleReq, TransferReq, BanReq, UpdateGroupReq, NotifyReq>;

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
inline constexpr size_t kMaxClientMsgIdBytes = 128;

Parsed ParseClientFrame(std::string_view text);
// The fields of a `send` (conv, client_msg_id, body, reply_to, attachments)
// read from `o` exactly as the WebSocket request reads them: the HTTP send
// of PROTOCOL.md §8 takes the same fields by the same rules.
Result<SendReq> ParseSendFields(const boost::json::object& o);

// ---- JSON values of PROTOCOL.md section 1 -------------------------------------
boost::json::object ToJson(const User& user);
boost::json::object ToJson(const Member& member);
boost::json::object ToJson(const Conversation& conv);
// A Message as PROTOCOL.md §5 serves it: `kind`, and a text entry's folded
// state (reply_to, mentions, reactions, edited_ts, deleted, state_seq) or a
// change entry's target (and emoji, op).
boost::json::object ToJson(const Message& message);
boost::json::object ErrorBody(const Error& error);  // {"error":{"code","message"}}
// Answers of the HTTP calls: a Session, {"conversations":[...]},
// {"messages":[...]} and {"members":[...],"next":id|null}.
boost::json::object SessionBody(const User& user, std::string_view access_token,
                                std::string_view refresh_token, int64_t expires_in);
boost::json::object ConversationsBody(const std::vector<Conversation>& conversations);
boost::json::object MessagesBody(const std::vector<Message>& messages);
boost::json::object MembersBody(const std::vector<Member>& members, std::optional<UserId> next);

// ---- server frames (serialized once, shared by every recipient) ---------------
std::string WelcomeFrame(int64_t re, const User& user, std::string_view session, int heartbeat_ms,
                         const std::vector<Conversation>& conversations);
// `duplicate`: the (sender, client_msg_id) was stored already and `message`
// is the first entry; the frame then says so ("duplicate": true, added).
std::string SentFrame(int64_t re, const Message& message, bool duplicate = false);
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
// PROTOCOL.md §7: a user's profile changed (PATCH /v1/me).
std::string UserUpdatedEvent(const User& user);
// action: "added" | "removed" | "left" | "banned"; conversation given to the
// added user.
std::string MemberEvent(ConversationId conv, UserId user, std::string_view action,
                        const Conversation* conversation);
// 1.1 (§7): `member` with action "role" and the user's new `role`.
std::string MemberRoleEvent(ConversationId conv, UserId user, Role role);
// 1.1 (§7): `group_updated` {conv, title, topic, by}.
std::string GroupUpdatedEvent(ConversationId conv, std::string_view title, std::string_view topic, UserId by);
// 1.1 (§7): the answer to creating an invite, {"invite":{code,max_uses,uses,expires_at}},
// and to GET /v1/blocks, {"users":[User]}.
boost::json::object InviteBody(const Invite& invite);
boost::json::object UsersBody(const std::vector<User>& users);
// 1.1 (§6): the answer to an upload, {"upload":{id,name,content_type,size,sha256}}.
boost::json::object UploadBody(UploadId id, std::string_view name, std::string_view content_type,
                               int64_t size, std::string_view sha256);
struct PresenceEntry {
  UserId user;
  std::string username;
  bool online = false;
  std::optional<TimeMs> last_seen;

  bool operator==(const PresenceEntry&) const = default;
};
std::string PresenceAnswer(int64_t re, const std::vector<PresenceEntry>& users);

}  // namespace parley::protocol
