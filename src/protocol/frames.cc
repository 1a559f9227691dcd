#include "protocol/frames.h"

#include <algorithm>

#include <boost/json.hpp>

#include "protocol/json.h"

namespace parley::protocol {
namespace json = boost::json;

namespace {

Error Bad(std::string message) { return MakeError(Errc::kBadRequest, std::move(message)); }

Result<ConversationId> GetConv(const json::object& o) { return RequireId<ConversationId>(o, "conv"); }

Result<std::string> GetClientMsgId(const json::object& o) {
  auto cmid = RequireString(o, "client_msg_id");
  if (!cmid) return std::move(cmid).error();
  if (cmid->empty() || cmid->size() > kMaxClientMsgIdBytes) {
    return Bad("client_msg_id must be 1 to " + std::to_string(kMaxClientMsgIdBytes) + " bytes");
  }
  return cmid;
}

// A seq naming an entry: a positive integer.
Result<int64_t> GetTargetSeq(const json::object& o, std::string_view field) {
  auto seq = RequireInt(o, field);
  if (!seq) return std::move(seq).error();
  if (*seq < 1) return Bad("field '" + std::string(field) + "' must be a positive seq");
  return seq;
}

// A send's `attachments` (1.1 §6): upload ids, at most kMaxAttachments,
// each once; none when absent or null.
Result<std::vector<UploadId>> GetAttachments(const json::object& o) {
  std::vector<UploadId> out;
  const json::value* v = o.if_contains("attachments");
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_array()) return Bad("field 'attachments' must be an array of upload ids");
  const json::array& ids = v->get_array();
  if (ids.size() > kMaxAttachments) {
    return Bad("at most " + std::to_string(kMaxAttachments) + " attachments per message");
  }
  for (const json::value& id : ids) {
    std::optional<UploadId> parsed = id.is_string() ? UploadId::Parse(id.get_string()) : std::nullopt;
    if (!parsed) return Bad("field 'attachments' must be an array of upload ids");
    if (std::find(out.begin(), out.end(), *parsed) != out.end()) {
      return Bad("upload " + parsed->ToString() + " is attached twice");
    }
    out.push_back(*parsed);
  }
  return out;
}

Result<Request> ParseRequest(std::string_view type, const json::object& o) {
  if (type == "send") {
    PARLEY_ASSIGN_OR_RETURN(ConversationId conv, GetConv(o));
    PARLEY_ASSIGN_OR_RETURN(std::string cmid, GetClientMsgId(o));
    PARLEY_ASSIGN_OR_RETURN(std::vector<UploadId> attachments, GetAttachments(o));
    // With attachments the body may be "" or left out.
    const json::value* body_field = o.if_contains("body");
    const bool no_body = !attachments.empty() && (body_field == nullptr || body_field->is_null());
    std::string body;
    if (!no_body) {
      PARLEY_ASSIGN_OR_RETURN(body, RequireString(o, "body"));
    }
    SendReq r{conv, std::move(cmid), std::move(body)};
    r.attachments = std::move(attachments);
    if (const json::value* reply = o.if_contains("reply_to"); reply && !reply->is_null()) {
      PARLEY_ASSIGN_OR_RETURN(r.reply_to, GetTargetSeq(o, "reply_to"));
    }
    return Request(std::move(r));
  }
  if (type == "edit") {
    EditReq r;
    PARLEY_ASSIGN_OR_RETURN(r.conv, GetConv(o));
    PARLEY_ASSIGN_OR_RETURN(r.seq, GetTargetSeq(o, "seq"));
    PARLEY_ASSIGN_OR_RETURN(r.body, RequireString(o, "body"));
    PARLEY_ASSIGN_OR_RETURN(r.client_msg_id, GetClientMsgId(o));
    return Request(std::move(r));
  }
  if (type == "delete") {
    DeleteReq r;
    PARLEY_ASSIGN_OR_RETURN(r.conv, GetConv(o));
    PARLEY_ASSIGN_OR_RETURN(r.seq, GetTargetSeq(o, "seq"));
    PARLEY_ASSIGN_OR_RETURN(r.client_msg_id, GetClientMsgId(o));
    return Request(std::move(r));
  }
  if (type == "react") {
    ReactReq r;
    PARLEY_ASSIGN_OR_RETURN(r.conv, GetConv(o));
    PARLEY_ASSIGN_OR_RETURN(r.seq, GetTargetSeq(o, "seq"));
    PARLEY_ASSIGN_OR_RETURN(r.emoji, RequireString(o, "emoji"));
    PARLEY_ASSIGN_OR_RETURN(std::string op, RequireString(o, "op"));
    std::optional<ReactionOp> parsed = ParseReactionOp(op);
    if (!parsed) return Bad("field 'op' must be \"add\" or \"remove\"");
    r.op = *parsed;
    PARLEY_ASSIGN_OR_RETURN(r.client_msg_id, GetClientMsgId(o));
    return Request(std::move(r));
  }
  if (type == "history") {
    auto conv = GetConv(o);
    if (!conv) return std::move(conv).error();
    HistoryReq r{*conv, {}, {}, kDefaultHistoryLimit};
    auto before = OptionalNonNegative(o, "before");
    if (!before) return std::move(before).error();
    auto after = OptionalNonNegative(o, "after");
    if (!after) return std::move(after).error();
    r.before = *before;
    r.after = *after;
    if (const json::value* l = o.if_contains("limit"); l && !l->is_null()) {
      auto limit = AsInt(*l);
      if (!limit || *limit < 1) return Bad("field 'limit' must be a positive integer");
      r.limit = static_cast<int>(std::min<int64_t>(*limit, kMaxHistoryLimit));
    }
    return Request(r);
  }
  if (type == "read") {
    auto conv = GetConv(o);
    if (!conv) return std::move(conv).error();
    auto seq = RequireInt(o, "seq");
    if (!seq) return std::move(seq).error();
    if (*seq < 0) return Bad("field 'seq' must be non-negative");
    return Request(ReadReq{*conv, *seq});
  }
  if (type == "typing") {
    auto conv = GetConv(o);
    if (!conv) return std::move(conv).error();
    return Request(TypingReq{*conv});
  }
  if (type == "create_group") {
    auto title = RequireString(o, "title");
    if (!title) return std::move(title).error();
    auto members = StringList(o, "members", "usernames");
    if (!members) return std::move(members).error();
    return Request(CreateGroupReq{std::move(*title), std::move(*members)});
  }
  if (type == "dm") {
    auto username = RequireString(o, "username");
    if (!username) return std::move(username).error();
    return Request(DmReq{std::move(*username)});
  }
  if (type == "add_member" || type == "remove_member") {
    auto conv = GetConv(o);
    if (!conv) return std::move(conv).error();
    auto username = RequireString(o, "username");
    if (!username) return std::move(username).error();
    return Request(MemberReq{*conv, std::move(*username), type == "add_member"});
  }
  if (type == "leave") {
    auto conv = GetConv(o);
    if (!conv) return std::move(conv).error();
    return Request(LeaveReq{*conv});
  }
  if (type == "presence") {
    const json::value* u = o.if_contains("users");
    if (!u || !u->is_array()) return Bad("field 'users' must be an array of user ids");
    const auto& arr = u->get_array();
    if (arr.size() > static_cast<size_t>(kMaxPresenceQuery)) {
      return Bad("at most 500 users per presence request");
    }
    PresenceReq r;
    for (const auto& v : arr) {
      auto id = AsId<UserId>(v);
      if (!id) return Bad("field 'users' must hold user ids (strings of digits)");
      r.users.push_back(*id);
    }
    return Request(std::move(r));
  }
  if (type == "ping") return Request(PingReq{});
  if (type == "notify") {
    NotifyReq r;
    PARLEY_ASSIGN_OR_RETURN(r.conv, GetConv(o));
    PARLEY_ASSIGN_OR_RETURN(std::string level, RequireString(o, "level"));
    std::optional<NotifyLevel> parsed = ParseNotifyLevel(level);
    if (!parsed) return Bad("field 'level' must be \"all\", \"mentions\" or \"none\"");
    r.level = *parsed;
    return Request(std::move(r));
  }
  if (type == "set_role") {
    SetRoleReq r;
    PARLEY_ASSIGN_OR_RETURN(r.conv, GetConv(o));
    PARLEY_ASSIGN_OR_RETURN(r.username, RequireString(o, "username"));
    PARLEY_ASSIGN_OR_RETURN(std::string role, RequireString(o, "role"));
    if (role == "admin") {
      r.role = Role::kAdmin;
    } else if (role == "member") {
      r.role = Role::kMember;
    } else {
      return Bad("field 'role' must be \"admin\" or \"member\" (ownership moves by transfer)");
    }
    return Request(std::move(r));
  }
  if (type == "transfer") {
    TransferReq r;
    PARLEY_ASSIGN_OR_RETURN(r.conv, GetConv(o));
    PARLEY_ASSIGN_OR_RETURN(r.username, RequireString(o, "username"));
    return Request(std::move(r));
  }
  if (type == "ban" || type == "unban") {
    BanReq r;
    PARLEY_ASSIGN_OR_RETURN(r.conv, GetConv(o));
    PARLEY_ASSIGN_OR_RETURN(r.username, RequireString(o, "username"));
    r.ban = type == "ban";
    return Request(std::move(r));
  }
  if (type == "update_group") {
    UpdateGroupReq r;
    PARLEY_ASSIGN_OR_RETURN(r.conv, GetConv(o));
    for (auto [key, out] : {std::pair{"title", &r.title}, std::pair{"topic", &r.topic}}) {
      if (const json::value* v = o.if_contains(key); v && !v->is_null()) {
        PARLEY_ASSIGN_OR_RETURN(*out, RequireString(o, key));
      }
    }
    return Request(std::move(r));
  }
  if (type == "hello") {
    auto token = RequireString(o, "token");
    if (!token) return std::move(token).error();
    HelloReq r{std::move(*token), {}, false};
    if (const json::value* ls = o.if_contains("last_seq"); ls && !ls->is_null()) {
      if (ls->is_string() && ls->get_string() == "all") {
        r.all = true;
      } else if (ls->is_object()) {
        for (const auto& kv : ls->get_object()) {
          auto conv = ConversationId::Parse(kv.key());
          auto seq = AsInt(kv.value());
          if (!conv || !seq || *seq < 0) return Bad("last_seq must map conversation ids to seqs");
          r.last_seq.emplace_back(*conv, *seq);
        }
      } else {
        return Bad("last_seq must be an object or \"all\"");
      }
    }
    return Request(std::move(r));
  }
  return Bad("unknown request type '" + std::string(Utf8Prefix(type, 64)) + "'");
}

std::string Serialize(const json::object& o) { return json::serialize(o); }

json::value OptTime(const std::optional<TimeMs>& t) { return t ? json::value(*t) : json::value(nullptr); }

}  // namespace

Result<SendReq> ParseSendFields(const json::object& o) {
  PARLEY_ASSIGN_OR_RETURN(Request r, ParseRequest("send", o));
  return std::get<SendReq>(std::move(r));
}

Parsed ParseClientFrame(std::string_view text) {
  Parsed out;
  json::parse_options opts;
  opts.max_depth = 16;
  std::error_code ec;
  unsigned char buf[4096];
  json::monotonic_resource mr(buf, sizeof(buf));
  json::value v = json::parse(text, ec, &mr, opts);
  if (ec) {
    out.not_json = true;
    out.error = Bad("frame is not valid JSON: " + ec.message());
    return out;
  }
  if (!v.is_object()) {
    out.error = Bad("a frame must be a JSON object");
    return out;
  }
  const json::object& o = v.get_object();
  if (const json::value* id = o.if_contains("id")) out.id = AsInt(*id);
  const json::value* type = o.if_contains("type");
  if (!type || !type->is_string()) {
    out.error = Bad("missing field 'type'");
    return out;
  }
  auto r = ParseRequest(type->get_string(), o);
  if (r) {
    out.request = std::move(r).value();
  } else {
    out.error = std::move(r).error();
  }
  return out;
}

json::object ToJson(const User& user) {
  return {{"id", user.id.ToString()},
          {"username", user.username},
          {"display_name", user.display_name},
          {"online", user.online},
          {"last_seen", OptTime(user.last_seen)},
          {"bot", user.bot}};
}

json::object ToJson(const Member& member) {
  return {{"id", member.id.ToString()},
          {"username", member.username},
          {"role", RoleName(member.role)},
          {"read_seq", member.read_seq},
          {"display_name", member.display_name}};
}

json::object ToJson(const Conversation& conv) {
  json::array members;
  members.reserve(conv.members.size());
  for (const auto& m : conv.members) members.push_back(ToJson(m));
  return {{"id", conv.id.ToString()},
          {"kind", KindName(conv.kind)},
          {"title", conv.title ? json::value(*conv.title) : json::value(nullptr)},
          {"topic", conv.topic ? json::value(*conv.topic) : json::value(nullptr)},
          {"member_count", conv.member_count},
          {"members", std::move(members)},
          {"last_seq", conv.last_seq},
          {"read_seq", conv.read_seq},
          {"unread", conv.unread()},
          {"mentions_unread", conv.mentions_unread},
          {"notify", NotifyLevelName(conv.notify)}};
}

json::object ToJson(const Message& m) {
  // Empty (null) only for a server administrator's delete (PROTOCOL.md §7).
  json::value cmid = m.client_msg_id.empty() ? json::value(nullptr) : json::value(m.client_msg_id);
  json::object o{{"conv", m.conv.ToString()},
                 {"seq", m.seq},
                 {"id", m.id.ToString()},
                 {"sender", m.sender.ToString()},
                 {"body", m.body},
                 {"ts", m.ts},
                 {"client_msg_id", std::move(cmid)},
                 {"kind", EntryKindName(m.kind)}};
  if (m.kind != EntryKind::kText) {
    o.emplace("target", m.target);
    if (m.kind == EntryKind::kReaction) {
      o.emplace("emoji", m.emoji);
      o.emplace("op", ReactionOpName(m.op));
    }
    return o;
  }
  json::array mentions;
  mentions.reserve(m.mentions.size());
  for (UserId u : m.mentions) mentions.push_back(json::value(u.ToString()));
  json::array reactions;
  reactions.reserve(m.reactions.size());
  for (const Reaction& r : m.reactions) {
    reactions.push_back(json::object{{"emoji", r.emoji}, {"count", r.count}, {"me", r.me}});
  }
  o.emplace("reply_to", m.reply_to ? json::value(*m.reply_to) : json::value(nullptr));
  o.emplace("mentions", std::move(mentions));
  o.emplace("reactions", std::move(reactions));
  o.emplace("edited_ts", OptTime(m.edited_ts));
  o.emplace("deleted", m.deleted);
  o.emplace("state_seq", m.state_seq);
  json::array attachments;
  attachments.reserve(m.attachments.size());
  for (const Attachment& a : m.attachments) {
    attachments.push_back(json::object{{"id", a.id.ToString()},
                                       {"name", a.name},
                                       {"content_type", a.content_type},
                                       {"size", a.size},
                                       {"url", a.url}});
  }
  o.emplace("attachments", std::move(attachments));
  return o;
}

json::object ErrorBody(const Error& error) {
  return {{"error", {{"code", ErrcName(error.code)}, {"message", error.message}}}};
}

json::object SessionBody(const User& user, std::string_view access_token, std::string_view refresh_token,
                         int64_t expires_in) {
  return {{"user", ToJson(user)},
          {"access_token", access_token},
          {"refresh_token", refresh_token},
          {"expires_in", expires_in}};
}

json::object ConversationsBody(const std::vector<Conversation>& conversations) {
  json::array arr;
  arr.reserve(conversations.size());
  for (const auto& c : conversations) arr.push_back(ToJson(c));
  return {{"conversations", std::move(arr)}};
}

json::object MessagesBody(const std::vector<Message>& messages) {
  json::array arr;
  arr.reserve(messages.size());
  for (const auto& m : messages) arr.push_back(ToJson(m));
  return {{"messages", std::move(arr)}};
}

json::object MembersBody(const std::vector<Member>& members, std::optional<UserId> next) {
  json::array arr;
  arr.reserve(members.size());
  for (const auto& m : members) arr.push_back(ToJson(m));
  return {{"members", std::move(arr)}, {"next", next ? json::value(next->ToString()) : json::value(nullptr)}};
}

std::string WelcomeFrame(int64_t re, const User& user, std::string_view session, int heartbeat_ms,
                         const std::vector<Conversation>& conversations) {
  json::array convs;
  convs.reserve(conversations.size());
  for (const auto& c : conversations) convs.push_back(ToJson(c));
  return Serialize({{"re", re},
                    {"type", "welcome"},
                    {"user", ToJson(user)},
                    {"session", session},
                    {"heartbeat_ms", heartbeat_ms},
                    {"conversations", std::move(convs)}});
}

std::string SentFrame(int64_t re, const Message& m, bool duplicate) {
  json::object o{{"re", re},     {"type", "sent"},        {"conv", m.conv.ToString()},
                 {"seq", m.seq}, {"id", m.id.ToString()}, {"ts", m.ts}};
  if (duplicate) o["duplicate"] = true;
  return Serialize(std::move(o));
}

std::string MessageEvent(const Message& m) {
  json::object o = ToJson(m);
  o.emplace("type", "message");
  return Serialize(o);
}

std::string HistoryFrame(int64_t re, ConversationId conv, const std::vector<Message>& messages) {
  json::array arr;
  arr.reserve(messages.size());
  for (const auto& m : messages) arr.push_back(ToJson(m));
  return Serialize(
      {{"re", re}, {"type", "history"}, {"conv", conv.ToString()}, {"messages", std::move(arr)}});
}

std::string OkFrame(int64_t re) { return Serialize({{"re", re}, {"type", "ok"}}); }

std::string PongFrame(int64_t re, TimeMs ts) { return Serialize({{"re", re}, {"type", "pong"}, {"ts", ts}}); }

std::string ConversationFrame(int64_t re, const Conversation& conv) {
  return Serialize({{"re", re}, {"type", "conversation"}, {"conversation", ToJson(conv)}});
}

std::string ErrorFrame(std::optional<int64_t> re, const Error& error) {
  json::object o;
  if (re) o.emplace("re", *re);
  o.emplace("type", "error");
  o.emplace("code", ErrcName(error.code));
  o.emplace("message", error.message);
  if (error.code == Errc::kRateLimited) o.emplace("retry_after_ms", error.retry_after_ms);
  return Serialize(o);
}

std::string GapEvent(ConversationId conv, int64_t from_seq, int64_t to_seq) {
  return Serialize({{"type", "gap"}, {"conv", conv.ToString()}, {"from_seq", from_seq}, {"to_seq", to_seq}});
}

std::string TypingEvent(ConversationId conv, UserId user) {
  return Serialize({{"type", "typing"}, {"conv", conv.ToString()}, {"user", user.ToString()}});
}

std::string ReadEvent(ConversationId conv, UserId user, int64_t seq) {
  return Serialize({{"type", "read"}, {"conv", conv.ToString()}, {"user", user.ToString()}, {"seq", seq}});
}

std::string PresenceEvent(UserId user, std::string_view username, bool online,
                          std::optional<TimeMs> last_seen) {
  return Serialize({{"type", "presence"},
                    {"user", user.ToString()},
                    {"username", username},
                    {"online", online},
                    {"last_seen", OptTime(last_seen)}});
}

std::string UserUpdatedEvent(const User& user) {
  return Serialize({{"type", "user_updated"},
                    {"user", user.id.ToString()},
                    {"username", user.username},
                    {"display_name", user.display_name}});
}

std::string MemberEvent(ConversationId conv, UserId user, std::string_view action,
                        const Conversation* conversation) {
  json::object o{
      {"type", "member"}, {"conv", conv.ToString()}, {"user", user.ToString()}, {"action", action}};
  if (conversation) o.emplace("conversation", ToJson(*conversation));
  return Serialize(o);
}

std::string MemberRoleEvent(ConversationId conv, UserId user, Role role) {
  return Serialize(json::object{{"type", "member"},
                                {"conv", conv.ToString()},
                                {"user", user.ToString()},
                                {"action", "role"},
                                {"role", RoleName(role)}});
}

std::string GroupUpdatedEvent(ConversationId conv, std::string_view title, std::string_view topic,
                              UserId by) {
  return Serialize(json::object{{"type", "group_updated"},
                                {"conv", conv.ToString()},
                                {"title", title},
                                {"topic", topic},
                                {"by", by.ToString()}});
}

json::object InviteBody(const Invite& invite) {
  return {{"invite",
           json::object{{"code", invite.code},
                        {"max_uses", invite.max_uses ? json::value(*invite.max_uses) : json::value(nullptr)},
                        {"uses", invite.uses},
                        {"expires_at", invite.expires_at}}}};
}

json::object UploadBody(UploadId id, std::string_view name, std::string_view content_type, int64_t size,
                        std::string_view sha256) {
  return {{"upload", json::object{{"id", id.ToString()},
                                  {"name", name},
                                  {"content_type", content_type},
                                  {"size", size},
                                  {"sha256", sha256}}}};
}

json::object UsersBody(const std::vector<User>& users) {
  json::array arr;
  arr.reserve(users.size());
  for (const User& u : users) arr.push_back(ToJson(u));
  return {{"users", std::move(arr)}};
}

std::string PresenceAnswer(int64_t re, const std::vector<PresenceEntry>& users) {
  json::array arr;
  arr.reserve(users.size());
  for (const auto& u : users) {
    arr.push_back(json::object{{"user", u.user.ToString()},
                               {"username", u.username},
                               {"online", u.online},
                               {"last_seen", OptTime(u.last_seen)}});
  }
  return Serialize({{"re", re}, {"type", "presence"}, {"users", std::move(arr)}});
}

}  // namespace parley::protocol
