#pragma once
// The client half of PROTOCOL.md section 1: the JSON values (User, Member,
// Conversation, Message) read back into the domain's types, the answers of
// the HTTP calls a client makes (Session, lists, the error body), and the
// request bodies and targets of those calls. The server writes the same
// values with frames.h's ToJson, so the two halves round-trip. Pure: no I/O.
//
// Readers are strict about what PROTOCOL.md promises (a missing or mistyped
// field is a kBadRequest naming it, e.g. "conversation: members: [2]:
// missing field 'role'") and ignore fields they do not know, as clients of a
// growing protocol must.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "common/error.h"
#include "common/ids.h"
#include "common/model.h"
#include "common/result.h"

namespace parley::protocol {

// ---- values ---------------------------------------------------------------------
// `unread` is the server's count (1.1: text entries of others, not deleted);
// `mentions_unread` (1.1) reads as 0 from a 1.0 server. A Message from a 1.0
// server (no `kind`) reads as a text entry nothing changed.
Result<User> ParseUser(const boost::json::value& v);
Result<Member> ParseMember(const boost::json::value& v);
Result<Conversation> ParseConversation(const boost::json::value& v);
// A null `client_msg_id` (an administrator's entry in 1.1) reads as "".
Result<Message> ParseMessage(const boost::json::value& v);
Result<Message> ParseMessage(const boost::json::object& o);
Result<Role> ParseRole(std::string_view name);
Result<ConversationKind> ParseKind(std::string_view name);

// ---- answers --------------------------------------------------------------------
struct Session {
  User user;
  std::string access_token;
  std::string refresh_token;
  int64_t expires_in = 0;  // seconds

  bool operator==(const Session&) const = default;
};
Result<Session> ParseSession(const boost::json::value& v);
// {"conversations":[Conversation]}
Result<std::vector<Conversation>> ParseConversations(const boost::json::value& v);
// {"messages":[Message]}
Result<std::vector<Message>> ParseMessages(const boost::json::value& v);
struct MemberPage {
  std::vector<Member> members;
  std::optional<UserId> next;  // the `after` of the next page; nullopt on the last

  bool operator==(const MemberPage&) const = default;
};
// {"members":[member],"next":cursor|null}
Result<MemberPage> ParseMemberPage(const boost::json::value& v);
// An error answer as the server sent it (HTTP body or WebSocket frame).
struct ServerError {
  Errc code = Errc::kInternal;  // kInternal for a name the table does not hold
  std::string code_name;        // as sent: "not_found", or a newer server's own
  std::string message;
  int64_t retry_after_ms = 0;  // rate_limited, when the server says

  Error ToError() const { return Error{code, message, retry_after_ms}; }
  bool operator==(const ServerError&) const = default;
};
// The fields of an error ("code", "message", "retry_after_ms"?) in `o`.
Result<ServerError> ParseServerError(const boost::json::object& o);
// {"error":{"code","message","retry_after_ms"?}}
Result<ServerError> ParseErrorBody(const boost::json::value& v);

// ---- requests -------------------------------------------------------------------
// POST /v1/auth/register; an empty display name is left out.
std::string RegisterBody(std::string_view username, std::string_view password, std::string_view display_name);
// POST /v1/auth/login
std::string LoginBody(std::string_view username, std::string_view password);
// POST /v1/auth/refresh
std::string RefreshBody(std::string_view refresh_token);
// POST /v1/conversations
std::string CreateGroupBody(std::string_view title, const std::vector<std::string>& members);
// POST /v1/conversations/dm and POST /v1/conversations/{id}/members
std::string UsernameBody(std::string_view username);

// GET /v1/conversations/{id}/messages with the query parameters that are set.
std::string MessagesTarget(ConversationId conv, std::optional<int64_t> after, std::optional<int64_t> before,
                           std::optional<int> limit);
// GET /v1/conversations/{id}/members with the query parameters that are set.
std::string MembersTarget(ConversationId conv, std::optional<UserId> after, std::optional<int> limit);

}  // namespace parley::protocol
