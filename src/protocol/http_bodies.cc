#include "protocol/http_bodies.h"

#include <boost/json.hpp>

#include "protocol/json.h"
#include "protocol/json_lists.h"

namespace parley::protocol {
namespace json = boost::json;

namespace {

Error Bad(std::string message) { return MakeError(Errc::kBadRequest, std::move(message)); }

Result<const json::object*> AsObject(const json::value& v, std::string_view what) {
  if (!v.is_object()) return Bad(std::string(what) + " must be a JSON object");
  return &v.get_object();
}

// {"k1":"v1",...}: an object of string fields, in the order given.
std::string StringObject(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out = "{";
  for (const auto& [key, value] : fields) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(key, &out);
    out.push_back(':');
    AppendJsonString(value, &out);
  }
  out.push_back('}');
  return out;
}

// Appends "?name=value", or "&name=value" after the first parameter.
void AppendParam(std::string_view name, std::string_view value, std::string* target) {
  target->push_back(target->find('?') == std::string::npos ? '?' : '&');
  target->append(name).push_back('=');
  target->append(value);
}

}  // namespace

Result<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kOwner, Role::kAdmin, Role::kMember}) {
    if (RoleName(r) == name) return r;
  }
  return Bad("unknown role '" + std::string(name) + "'");
}

Result<ConversationKind> ParseKind(std::string_view name) {
  for (ConversationKind k : {ConversationKind::kDm, ConversationKind::kGroup}) {
    if (KindName(k) == name) return k;
  }
  return Bad("unknown conversation kind '" + std::string(name) + "'");
}

Result<User> ParseUser(const json::value& v) {
  PARLEY_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "a user"));
  User u;
  PARLEY_ASSIGN_OR_RETURN(u.id, RequireId<UserId>(*o, "id"));
  PARLEY_ASSIGN_OR_RETURN(u.username, RequireString(*o, "username"));
  PARLEY_ASSIGN_OR_RETURN(u.display_name, RequireString(*o, "display_name"));
  PARLEY_ASSIGN_OR_RETURN(u.online, RequireBool(*o, "online"));
  PARLEY_ASSIGN_OR_RETURN(u.last_seen, NullableInt(*o, "last_seen"));
  // 1.1 (§8); a 1.0 server leaves it out.
  if (const json::value* bot = o->if_contains("bot"); bot && bot->is_bool()) u.bot = bot->get_bool();
  return u;
}

Result<Member> ParseMember(const json::value& v) {
  PARLEY_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "a member"));
  Member m;
  PARLEY_ASSIGN_OR_RETURN(m.id, RequireId<UserId>(*o, "id"));
  PARLEY_ASSIGN_OR_RETURN(m.username, RequireString(*o, "username"));
  PARLEY_ASSIGN_OR_RETURN(std::string role, RequireString(*o, "role"));
  PARLEY_ASSIGN_OR_RETURN(m.role, ParseRole(role));
  // Additions of this server (docs/protocol.md); absent elsewhere.
  PARLEY_ASSIGN_OR_RETURN(std::optional<int64_t> read_seq, OptionalNonNegative(*o, "read_seq"));
  m.read_seq = read_seq.value_or(0);
  PARLEY_ASSIGN_OR_RETURN(m.display_name, OptionalString(*o, "display_name"));
  return m;
}

Result<Conversation> ParseConversation(const json::value& v) {
  PARLEY_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "a conversation"));
  Conversation c;
  PARLEY_ASSIGN_OR_RETURN(c.id, RequireId<ConversationId>(*o, "id"));
  PARLEY_ASSIGN_OR_RETURN(std::string kind, RequireString(*o, "kind"));
  PARLEY_ASSIGN_OR_RETURN(c.kind, ParseKind(kind));
  if (!o->contains("title")) return Bad("missing field 'title'");
  PARLEY_ASSIGN_OR_RETURN(c.title, NullableString(*o, "title"));
  PARLEY_ASSIGN_OR_RETURN(c.member_count, RequireInt(*o, "member_count"));
  PARLEY_ASSIGN_OR_RETURN(c.members, ParseList<Member>(*o, "members", ParseMember));
  PARLEY_ASSIGN_OR_RETURN(c.last_seq, RequireInt(*o, "last_seq"));
  PARLEY_ASSIGN_OR_RETURN(c.read_seq, RequireInt(*o, "read_seq"));
  PARLEY_ASSIGN_OR_RETURN(c.unread_count, RequireInt(*o, "unread"));
  // 1.1; a 1.0 server does not send it.
  PARLEY_ASSIGN_OR_RETURN(std::optional<int64_t> mentions_unread, OptionalNonNegative(*o, "mentions_unread"));
  c.mentions_unread = mentions_unread.value_or(0);
  // 1.1 (§7); absent from a 1.0 server.
  if (const json::value* t = o->if_contains("topic"); t && !t->is_null()) {
    PARLEY_ASSIGN_OR_RETURN(c.topic, RequireString(*o, "topic"));
  }
  // 1.1 (§8); a server without it notifies as the default says.
  c.notify = DefaultNotifyLevel(c.kind);
  if (const json::value* n = o->if_contains("notify"); n && !n->is_null()) {
    PARLEY_ASSIGN_OR_RETURN(std::string level, RequireString(*o, "notify"));
    std::optional<NotifyLevel> parsed = ParseNotifyLevel(level);
    if (!parsed) return Bad("field 'notify' must be \"all\", \"mentions\" or \"none\"");
    c.notify = *parsed;
  }
  return c;
}

Result<Message> ParseMessage(const json::value& v) {
  PARLEY_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "a message"));
  return ParseMessage(*o);
}

Result<Message> ParseMessage(const json::object& object) {
  const json::object* o = &object;
  Message m;
  PARLEY_ASSIGN_OR_RETURN(m.conv, RequireId<ConversationId>(*o, "conv"));
  PARLEY_ASSIGN_OR_RETURN(m.seq, RequireInt(*o, "seq"));
  // A seq is never negative; and a negative one would become the entry's
  // state_seq below, which must not be (server_frames_fuzz found it).
  if (m.seq < 0) return Bad("field 'seq' must be a non-negative integer");
  PARLEY_ASSIGN_OR_RETURN(m.id, RequireId<MessageId>(*o, "id"));
  PARLEY_ASSIGN_OR_RETURN(m.sender, RequireId<UserId>(*o, "sender"));
  PARLEY_ASSIGN_OR_RETURN(m.body, RequireString(*o, "body"));
  PARLEY_ASSIGN_OR_RETURN(m.ts, RequireInt(*o, "ts"));
  if (!o->contains("client_msg_id")) return Bad("missing field 'client_msg_id'");
  PARLEY_ASSIGN_OR_RETURN(m.client_msg_id, OptionalString(*o, "client_msg_id"));
  // 1.1 (§5). A 1.0 server sends none of these: a text entry nothing changed.
  PARLEY_ASSIGN_OR_RETURN(std::string kind, OptionalString(*o, "kind"));
  if (!kind.empty()) {
    std::optional<EntryKind> parsed = ParseEntryKind(kind);
    if (!parsed) return Bad("unknown message kind '" + kind + "'");
    m.kind = *parsed;
  }
  if (m.kind != EntryKind::kText) {
    PARLEY_ASSIGN_OR_RETURN(m.target, RequireInt(*o, "target"));
    if (m.kind == EntryKind::kReaction) {
      PARLEY_ASSIGN_OR_RETURN(m.emoji, RequireString(*o, "emoji"));
      PARLEY_ASSIGN_OR_RETURN(std::string op, RequireString(*o, "op"));
      std::optional<ReactionOp> parsed_op = ParseReactionOp(op);
      if (!parsed_op) return Bad("unknown reaction op '" + op + "'");
      m.op = *parsed_op;
    }
    return m;
  }
  PARLEY_ASSIGN_OR_RETURN(m.reply_to, OptionalNonNegative(*o, "reply_to"));
  PARLEY_ASSIGN_OR_RETURN(m.edited_ts, OptionalNonNegative(*o, "edited_ts"));
  if (o->contains("deleted")) {
    PARLEY_ASSIGN_OR_RETURN(m.deleted, RequireBool(*o, "deleted"));
  }
  PARLEY_ASSIGN_OR_RETURN(std::optional<int64_t> state_seq, OptionalNonNegative(*o, "state_seq"));
  m.state_seq = state_seq.value_or(m.seq);
  if (o->contains("mentions")) {
    PARLEY_ASSIGN_OR_RETURN(std::vector<std::string> ids, StringList(*o, "mentions", "user ids"));
    for (const std::string& id : ids) {
      std::optional<UserId> user = UserId::Parse(id);
      if (!user) return Bad("field 'mentions' must hold user ids");
      m.mentions.push_back(*user);
    }
  }
  if (o->contains("reactions")) {
    PARLEY_ASSIGN_OR_RETURN(const json::array* reactions, RequireArray(*o, "reactions"));
    for (const json::value& v : *reactions) {
      PARLEY_ASSIGN_OR_RETURN(const json::object* r, AsObject(v, "a reaction"));
      Reaction reaction;
      PARLEY_ASSIGN_OR_RETURN(reaction.emoji, RequireString(*r, "emoji"));
      PARLEY_ASSIGN_OR_RETURN(reaction.count, RequireInt(*r, "count"));
      PARLEY_ASSIGN_OR_RETURN(reaction.me, RequireBool(*r, "me"));
      m.reactions.push_back(std::move(reaction));
    }
  }
  if (o->contains("attachments")) {  // 1.1 (§6)
    PARLEY_ASSIGN_OR_RETURN(const json::array* attachments, RequireArray(*o, "attachments"));
    for (const json::value& v : *attachments) {
      PARLEY_ASSIGN_OR_RETURN(const json::object* a, AsObject(v, "an attachment"));
      Attachment attachment;
      PARLEY_ASSIGN_OR_RETURN(attachment.id, RequireId<UploadId>(*a, "id"));
      PARLEY_ASSIGN_OR_RETURN(attachment.name, RequireString(*a, "name"));
      PARLEY_ASSIGN_OR_RETURN(attachment.content_type, RequireString(*a, "content_type"));
      PARLEY_ASSIGN_OR_RETURN(attachment.size, RequireInt(*a, "size"));
      PARLEY_ASSIGN_OR_RETURN(attachment.url, RequireString(*a, "url"));
      m.attachments.push_back(std::move(attachment));
    }
  }
  return m;
}

Result<Session> ParseSession(const json::value& v) {
  PARLEY_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "a session"));
  Session s;
  PARLEY_ASSIGN_OR_RETURN(s.user, ParseField<User>(*o, "user", ParseUser));
  PARLEY_ASSIGN_OR_RETURN(s.access_token, RequireString(*o, "access_token"));
  PARLEY_ASSIGN_OR_RETURN(s.refresh_token, RequireString(*o, "refresh_token"));
  PARLEY_ASSIGN_OR_RETURN(s.expires_in, RequireInt(*o, "expires_in"));
  if (s.access_token.empty() || s.refresh_token.empty()) return Bad("a session's tokens must not be empty");
  return s;
}

Result<std::vector<Conversation>> ParseConversations(const json::value& v) {
  PARLEY_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "a conversation list"));
  return ParseList<Conversation>(*o, "conversations", ParseConversation);
}

Result<std::vector<Message>> ParseMessages(const json::value& v) {
  PARLEY_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "a message list"));
  return ParseList<Message>(*o, "messages", ParseMessage);
}

Result<MemberPage> ParseMemberPage(const json::value& v) {
  PARLEY_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "a member page"));
  MemberPage page;
  PARLEY_ASSIGN_OR_RETURN(page.members, ParseList<Member>(*o, "members", ParseMember));
  const json::value* next = o->if_contains("next");
  if (!next) return Bad("missing field 'next'");
  if (!next->is_null()) {
    page.next = AsId<UserId>(*next);
    if (!page.next) return Bad("field 'next' must be a user id (a string of digits) or null");
  }
  return page;
}

Result<ServerError> ParseServerError(const json::object& o) {
  ServerError e;
  PARLEY_ASSIGN_OR_RETURN(e.code_name, RequireString(o, "code"));
  PARLEY_ASSIGN_OR_RETURN(e.message, RequireString(o, "message"));
  auto code = ErrcFromName(e.code_name);
  if (code == Errc::kOk) return Bad("an error cannot have the code 'ok'");
  e.code = code.value_or(Errc::kInternal);
  if (const json::value* retry = o.if_contains("retry_after_ms"); retry && !retry->is_null()) {
    auto ms = AsInt(*retry);
    if (!ms || *ms < 0) return Bad("field 'retry_after_ms' must be a non-negative integer");
    e.retry_after_ms = *ms;
  }
  return e;
}

Result<ServerError> ParseErrorBody(const json::value& v) {
  PARLEY_ASSIGN_OR_RETURN(const json::object* o, AsObject(v, "an error body"));
  PARLEY_ASSIGN_OR_RETURN(const json::object* error, RequireObject(*o, "error"));
  auto e = ParseServerError(*error);
  if (!e) return WithContext("error", std::move(e).error());
  return e;
}

std::string RegisterBody(std::string_view username, std::string_view password,
                         std::string_view display_name) {
  if (display_name.empty()) return StringObject({{"username", username}, {"password", password}});
  return StringObject({{"username", username}, {"password", password}, {"display_name", display_name}});
}

std::string LoginBody(std::string_view username, std::string_view password) {
  return StringObject({{"username", username}, {"password", password}});
}

std::string RefreshBody(std::string_view refresh_token) {
  return StringObject({{"refresh_token", refresh_token}});
}

std::string CreateGroupBody(std::string_view title, const std::vector<std::string>& members) {
  std::string out = StringObject({{"kind", "group"}, {"title", title}});
  out.pop_back();  // reopen the object for the array
  out.append(",\"members\":[");
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(members[i], &out);
  }
  out.append("]}");
  return out;
}

std::string UsernameBody(std::string_view username) { return StringObject({{"username", username}}); }

std::string MessagesTarget(ConversationId conv, std::optional<int64_t> after, std::optional<int64_t> before,
                           std::optional<int> limit) {
  std::string out = "/v1/conversations/" + conv.ToString() + "/messages";
  if (limit) AppendParam("limit", std::to_string(*limit), &out);
  if (after) AppendParam("after", std::to_string(*after), &out);
  if (before) AppendParam("before", std::to_string(*before), &out);
  return out;
}

std::string MembersTarget(ConversationId conv, std::optional<UserId> after, std::optional<int> limit) {
  std::string out = "/v1/conversations/" + conv.ToString() + "/members";
  if (limit) AppendParam("limit", std::to_string(*limit), &out);
  if (after) AppendParam("after", after->ToString(), &out);
  return out;
}

}  // namespace parley::protocol
