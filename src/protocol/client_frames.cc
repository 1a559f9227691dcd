#include "protocol/client_frames.h"

#include <boost/json.hpp>

#include "protocol/json.h"
#include "protocol/json_lists.h"

namespace parley::protocol {
namespace json = boost::json;

namespace {

// ---- requests ----

// Opens a request frame: {"id":N,"type":"T" (no closing brace).
void Open(std::string_view type, std::optional<int64_t> id, std::string* out) {
  out->push_back('{');
  if (id) {
    out->append("\"id\":");
    AppendJsonInt(*id, out);
    out->push_back(',');
  }
  out->append("\"type\":");
  AppendJsonString(type, out);
}

void Key(std::string_view key, std::string* out) {
  out->push_back(',');
  AppendJsonString(key, out);
  out->push_back(':');
}

void StringField(std::string_view key, std::string_view value, std::string* out) {
  Key(key, out);
  AppendJsonString(value, out);
}

void IntField(std::string_view key, int64_t value, std::string* out) {
  Key(key, out);
  AppendJsonInt(value, out);
}

template <class Tag>
void IdField(std::string_view key, Id<Tag> id, std::string* out) {
  StringField(key, id.ToString(), out);
}

template <class Strings>
void StringArrayField(std::string_view key, const Strings& items, std::string* out) {
  Key(key, out);
  out->push_back('[');
  bool first = true;
  for (const auto& item : items) {
    if (!first) out->push_back(',');
    first = false;
    if constexpr (std::is_same_v<std::decay_t<decltype(item)>, std::string>) {
      AppendJsonString(item, out);
    } else {
      AppendJsonString(item.ToString(), out);
    }
  }
  out->push_back(']');
}

struct Writer {
  std::optional<int64_t> id;
  std::string* out;

  void operator()(const HelloReq& r) const { AppendRequest(r, id, out); }
  void operator()(const SendReq& r) const { AppendRequest(r, id, out); }
  void operator()(const HistoryReq& r) const { AppendRequest(r, id, out); }
  void operator()(const ReadReq& r) const {
    Open("read", id, out);
    IdField("conv", r.conv, out);
    IntField("seq", r.seq, out);
    out->push_back('}');
  }
  void operator()(const TypingReq& r) const {
    Open("typing", id, out);
    IdField("conv", r.conv, out);
    out->push_back('}');
  }
  void operator()(const CreateGroupReq& r) const {
    Open("create_group", id, out);
    StringField("title", r.title, out);
    StringArrayField("members", r.members, out);
    out->push_back('}');
  }
  void operator()(const DmReq& r) const {
    Open("dm", id, out);
    StringField("username", r.username, out);
    out->push_back('}');
  }
  void operator()(const MemberReq& r) const {
    Open(r.add ? "add_member" : "remove_member", id, out);
    IdField("conv", r.conv, out);
    StringField("username", r.username, out);
    out->push_back('}');
  }
  void operator()(const LeaveReq& r) const {
    Open("leave", id, out);
    IdField("conv", r.conv, out);
    out->push_back('}');
  }
  void operator()(const PresenceReq& r) const {
    Open("presence", id, out);
    StringArrayField("users", r.users, out);
    out->push_back('}');
  }
  void operator()(const PingReq&) const {
    Open("ping", id, out);
    out->push_back('}');
  }
  void operator()(const EditReq& r) const {
    Open("edit", id, out);
    IdField("conv", r.conv, out);
    IntField("seq", r.seq, out);
    StringField("body", r.body, out);
    StringField("client_msg_id", r.client_msg_id, out);
    out->push_back('}');
  }
  void operator()(const DeleteReq& r) const {
    Open("delete", id, out);
    IdField("conv", r.conv, out);
    IntField("seq", r.seq, out);
    StringField("client_msg_id", r.client_msg_id, out);
    out->push_back('}');
  }
  void operator()(const SetRoleReq& r) const {
    Open("set_role", id, out);
    IdField("conv", r.conv, out);
    StringField("username", r.username, out);
    StringField("role", RoleName(r.role), out);
    out->push_back('}');
  }
  void operator()(const TransferReq& r) const {
    Open("transfer", id, out);
    IdField("conv", r.conv, out);
    StringField("username", r.username, out);
    out->push_back('}');
  }
  void operator()(const BanReq& r) const {
    Open(r.ban ? "ban" : "unban", id, out);
    IdField("conv", r.conv, out);
    StringField("username", r.username, out);
    out->push_back('}');
  }
  void operator()(const NotifyReq& r) const {
    Open("notify", id, out);
    IdField("conv", r.conv, out);
    StringField("level", NotifyLevelName(r.level), out);
    out->push_back('}');
  }
  void operator()(const UpdateGroupReq& r) const {
    Open("update_group", id, out);
    IdField("conv", r.conv, out);
    if (r.title) StringField("title", *r.title, out);
    if (r.topic) StringField("topic", *r.topic, out);
    out->push_back('}');
  }
  void operator()(const ReactReq& r) const {
    Open("react", id, out);
    IdField("conv", r.conv, out);
    IntField("seq", r.seq, out);
    StringField("emoji", r.emoji, out);
    StringField("op", ReactionOpName(r.op), out);
    StringField("client_msg_id", r.client_msg_id, out);
    out->push_back('}');
  }
};

// ---- answers and events ----

Error Bad(std::string message) { return MakeError(Errc::kBadRequest, std::move(message)); }

Result<PresenceEntry> ParsePresenceEntry(const json::object& o) {
  PresenceEntry p;
  PARLEY_ASSIGN_OR_RETURN(p.user, RequireId<UserId>(o, "user"));
  PARLEY_ASSIGN_OR_RETURN(p.username, RequireString(o, "username"));
  PARLEY_ASSIGN_OR_RETURN(p.online, RequireBool(o, "online"));
  PARLEY_ASSIGN_OR_RETURN(p.last_seen, NullableInt(o, "last_seen"));
  return p;
}

Result<PresenceEntry> ParsePresenceValue(const json::value& v) {
  if (!v.is_object()) return Bad("a presence entry must be a JSON object");
  return ParsePresenceEntry(v.get_object());
}

Result<ServerFrame> ParseAnswer(std::string_view type, int64_t re, const json::object& o) {
  if (type == "welcome") {
    Welcome w{re, {}, {}, 0, {}};
    PARLEY_ASSIGN_OR_RETURN(w.user, ParseField<User>(o, "user", ParseUser));
    PARLEY_ASSIGN_OR_RETURN(w.session, RequireString(o, "session"));
    PARLEY_ASSIGN_OR_RETURN(int64_t heartbeat, RequireInt(o, "heartbeat_ms"));
    if (heartbeat <= 0 || heartbeat > INT32_MAX)
      return Bad("field 'heartbeat_ms' must be a positive integer");
    w.heartbeat_ms = static_cast<int>(heartbeat);
    PARLEY_ASSIGN_OR_RETURN(w.conversations, ParseList<Conversation>(o, "conversations", ParseConversation));
    return ServerFrame(std::move(w));
  }
  if (type == "sent") {
    Sent s{re, {}, 0, {}, 0};
    PARLEY_ASSIGN_OR_RETURN(s.conv, RequireId<ConversationId>(o, "conv"));
    PARLEY_ASSIGN_OR_RETURN(s.seq, RequireInt(o, "seq"));
    PARLEY_ASSIGN_OR_RETURN(s.id, RequireId<MessageId>(o, "id"));
    PARLEY_ASSIGN_OR_RETURN(s.ts, RequireInt(o, "ts"));
    return ServerFrame(s);
  }
  if (type == "history") {
    HistoryAnswer h{re, {}, {}};
    PARLEY_ASSIGN_OR_RETURN(h.conv, RequireId<ConversationId>(o, "conv"));
    PARLEY_ASSIGN_OR_RETURN(h.messages, ParseList<Message>(o, "messages", ParseMessage));
    return ServerFrame(std::move(h));
  }
  if (type == "ok") return ServerFrame(OkAnswer{re});
  if (type == "pong") {
    Pong p{re, 0};
    PARLEY_ASSIGN_OR_RETURN(p.ts, RequireInt(o, "ts"));
    return ServerFrame(p);
  }
  if (type == "conversation") {
    ConversationAnswer c{re, {}};
    PARLEY_ASSIGN_OR_RETURN(c.conversation, ParseField<Conversation>(o, "conversation", ParseConversation));
    return ServerFrame(std::move(c));
  }
  if (type == "presence") {
    PresenceList p{re, {}};
    PARLEY_ASSIGN_OR_RETURN(p.users, ParseList<PresenceEntry>(o, "users", ParsePresenceValue));
    return ServerFrame(std::move(p));
  }
  return ServerFrame(UnknownFrame{re, std::string(type)});
}

Result<ServerFrame> ParseEvent(std::string_view type, const json::object& o) {
  if (type == "message") {
    PARLEY_ASSIGN_OR_RETURN(Message m, ParseMessage(o));
    return ServerFrame(std::move(m));
  }
  if (type == "typing") {
    TypingNotice t;
    PARLEY_ASSIGN_OR_RETURN(t.conv, RequireId<ConversationId>(o, "conv"));
    PARLEY_ASSIGN_OR_RETURN(t.user, RequireId<UserId>(o, "user"));
    return ServerFrame(t);
  }
  if (type == "read") {
    ReadNotice r;
    PARLEY_ASSIGN_OR_RETURN(r.conv, RequireId<ConversationId>(o, "conv"));
    PARLEY_ASSIGN_OR_RETURN(r.user, RequireId<UserId>(o, "user"));
    PARLEY_ASSIGN_OR_RETURN(r.seq, RequireInt(o, "seq"));
    return ServerFrame(r);
  }
  if (type == "presence") {
    PARLEY_ASSIGN_OR_RETURN(PresenceEntry p, ParsePresenceEntry(o));
    return ServerFrame(std::move(p));
  }
  if (type == "member") {
    MemberNotice m;
    PARLEY_ASSIGN_OR_RETURN(m.conv, RequireId<ConversationId>(o, "conv"));
    PARLEY_ASSIGN_OR_RETURN(m.user, RequireId<UserId>(o, "user"));
    PARLEY_ASSIGN_OR_RETURN(m.action, RequireString(o, "action"));
    if (const json::value* c = o.if_contains("conversation"); c && !c->is_null()) {
      PARLEY_ASSIGN_OR_RETURN(m.conversation, ParseField<Conversation>(o, "conversation", ParseConversation));
    }
    if (m.action == "role") {
      PARLEY_ASSIGN_OR_RETURN(std::string role, RequireString(o, "role"));
      PARLEY_ASSIGN_OR_RETURN(m.role, ParseRole(role));
    }
    return ServerFrame(std::move(m));
  }
  if (type == "group_updated") {
    GroupUpdated g;
    PARLEY_ASSIGN_OR_RETURN(g.conv, RequireId<ConversationId>(o, "conv"));
    PARLEY_ASSIGN_OR_RETURN(g.title, RequireString(o, "title"));
    PARLEY_ASSIGN_OR_RETURN(g.topic, RequireString(o, "topic"));
    PARLEY_ASSIGN_OR_RETURN(g.by, RequireId<UserId>(o, "by"));
    return ServerFrame(std::move(g));
  }
  if (type == "gap") {
    Gap g;
    PARLEY_ASSIGN_OR_RETURN(g.conv, RequireId<ConversationId>(o, "conv"));
    PARLEY_ASSIGN_OR_RETURN(g.from_seq, RequireInt(o, "from_seq"));
    PARLEY_ASSIGN_OR_RETURN(g.to_seq, RequireInt(o, "to_seq"));
    if (g.from_seq < 1 || g.to_seq < g.from_seq) return Bad("a gap must have 1 <= from_seq <= to_seq");
    return ServerFrame(g);
  }
  return ServerFrame(UnknownFrame{std::nullopt, std::string(type)});
}

}  // namespace

void AppendRequest(const HelloReq& r, std::optional<int64_t> id, std::string* out) {
  Open("hello", id, out);
  StringField("token", r.token, out);
  if (r.all) {
    StringField("last_seq", "all", out);
  } else if (!r.last_seq.empty()) {
    Key("last_seq", out);
    out->push_back('{');
    for (size_t i = 0; i < r.last_seq.size(); ++i) {
      if (i > 0) out->push_back(',');
      AppendJsonString(r.last_seq[i].first.ToString(), out);
      out->push_back(':');
      AppendJsonInt(r.last_seq[i].second, out);
    }
    out->push_back('}');
  }
  out->push_back('}');
}

void AppendRequest(const SendReq& r, std::optional<int64_t> id, std::string* out) {
  Open("send", id, out);
  IdField("conv", r.conv, out);
  StringField("client_msg_id", r.client_msg_id, out);
  StringField("body", r.body, out);
  if (r.reply_to) IntField("reply_to", *r.reply_to, out);
  if (!r.attachments.empty()) StringArrayField("attachments", r.attachments, out);
  out->push_back('}');
}

void AppendRequest(const HistoryReq& r, std::optional<int64_t> id, std::string* out) {
  Open("history", id, out);
  IdField("conv", r.conv, out);
  if (r.before) IntField("before", *r.before, out);
  if (r.after) IntField("after", *r.after, out);
  IntField("limit", r.limit, out);
  out->push_back('}');
}

void AppendRequest(const Request& request, std::optional<int64_t> id, std::string* out) {
  std::visit(Writer{id, out}, request);
}

std::string BuildRequest(const Request& request, std::optional<int64_t> id) {
  std::string out;
  AppendRequest(request, id, &out);
  return out;
}

std::string_view RequestType(const Request& request) {
  struct Namer {
    std::string_view operator()(const HelloReq&) const { return "hello"; }
    std::string_view operator()(const SendReq&) const { return "send"; }
    std::string_view operator()(const HistoryReq&) const { return "history"; }
    std::string_view operator()(const ReadReq&) const { return "read"; }
    std::string_view operator()(const TypingReq&) const { return "typing"; }
    std::string_view operator()(const CreateGroupReq&) const { return "create_group"; }
    std::string_view operator()(const DmReq&) const { return "dm"; }
    std::string_view operator()(const MemberReq& r) const { return r.add ? "add_member" : "remove_member"; }
    std::string_view operator()(const LeaveReq&) const { return "leave"; }
    std::string_view operator()(const PresenceReq&) const { return "presence"; }
    std::string_view operator()(const PingReq&) const { return "ping"; }
    std::string_view operator()(const EditReq&) const { return "edit"; }
    std::string_view operator()(const DeleteReq&) const { return "delete"; }
    std::string_view operator()(const ReactReq&) const { return "react"; }
    std::string_view operator()(const SetRoleReq&) const { return "set_role"; }
    std::string_view operator()(const TransferReq&) const { return "transfer"; }
    std::string_view operator()(const BanReq& r) const { return r.ban ? "ban" : "unban"; }
    std::string_view operator()(const UpdateGroupReq&) const { return "update_group"; }
    std::string_view operator()(const NotifyReq&) const { return "notify"; }
  };
  return std::visit(Namer{}, request);
}

Result<ServerFrame> ParseServerFrame(std::string_view text) {
  auto o = ParseJsonObject(text, "a server frame");
  if (!o) return std::move(o).error();
  return ParseServerFrame(*o);
}

Result<ServerFrame> ParseServerFrame(const json::object& o) {
  const json::value* type_value = o.if_contains("type");
  if (!type_value || !type_value->is_string()) return Bad("a server frame needs a string field 'type'");
  const std::string_view type = type_value->get_string();
  std::optional<int64_t> re;
  if (const json::value* v = o.if_contains("re")) {
    re = AsInt(*v);
    if (!re) return Bad(std::string(type) + ": field 're' must be an integer");
  }
  auto out = [&]() -> Result<ServerFrame> {
    if (type == "error") {
      PARLEY_ASSIGN_OR_RETURN(ServerError e, ParseServerError(o));
      return ServerFrame(ErrorAnswer{re, std::move(e)});
    }
    if (re) return ParseAnswer(type, *re, o);
    return ParseEvent(type, o);
  }();
  if (!out) return WithContext(type, std::move(out).error());
  return out;
}

std::optional<int64_t> ReOf(const ServerFrame& frame) {
  return std::visit(
      [](const auto& f) -> std::optional<int64_t> {
        if constexpr (requires { f.re; }) {
          return f.re;
        } else {
          return std::nullopt;
        }
      },
      frame);
}

}  // namespace parley::protocol
