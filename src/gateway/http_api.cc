#include "gateway/http_api.h"

#include <charconv>
#include <functional>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <boost/url.hpp>

#include "auth/login_throttle.h"
#include "chat/service.h"
#include "common/logging.h"
#include "gateway/upload_api.h"
#include "metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include "protocol/frames.h"
#include "protocol/json.h"
#include "gateway/openapi.h"

namespace parley::gateway {
namespace json = boost::json;

namespace {

ApiResponse Json(int status, const json::value& v) {
  return {status, json::serialize(v), "application/json", {}};
}

std::shared_ptr<spdlog::logger>& Log() {
  static auto log = Logger("http");
  return log;
}

// The PROTOCOL.md error body; rate_limited also carries retry_after_ms (in
// the error object, and as a Retry-After header in whole seconds). Internal
// and backend failures are logged, and answered without their details
// (which may name hosts, files or SQL).
ApiResponse Fail(const Error& e) {
  Error shown = e;
  if (e.code == Errc::kInternal || e.code == Errc::kUnavailable) {
    Log()->warn("request failed: {}: {}", ErrcName(e.code), e.message);
    shown.message = e.code == Errc::kInternal ? "internal error" : "service unavailable; try again later";
  }
  json::object body = protocol::ErrorBody(shown);
  ApiResponse r;
  if (e.code == Errc::kRateLimited && e.retry_after_ms > 0) {
    body["error"].as_object()["retry_after_ms"] = e.retry_after_ms;
    r.headers.emplace_back("Retry-After", std::to_string((e.retry_after_ms + 999) / 1000));
  }
  r.status = HttpStatus(e.code);
  r.body = json::serialize(body);
  return r;
}

ApiResponse NoContent() { return {204, "", "", {}}; }

ApiResponse Fail(Errc code, std::string message) { return Fail(MakeError(code, std::move(message))); }

// A required string field of a request body; null counts as missing.
Result<std::string> Field(const json::object& o, std::string_view key) {
  if (const json::value* v = o.if_contains(key); v && v->is_null()) {
    return MakeError(Errc::kBadRequest, "missing field '" + std::string(key) + "'");
  }
  return protocol::RequireString(o, key);
}

// A query parameter as a non-negative integer; nullopt when absent or empty.
Result<std::optional<int64_t>> QueryInt(const boost::urls::url_view& url, std::string_view key) {
  auto it = url.params().find(key);
  if (it == url.params().end() || !(*it).has_value || (*it).value.empty()) return std::optional<int64_t>();
  const std::string& s = (*it).value;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) {
    return MakeError(Errc::kBadRequest,
                     "query parameter '" + std::string(key) + "' must be a non-negative integer");
  }
  return std::optional<int64_t>(v);
}

// A `limit` query parameter: `fallback` when absent, at most `max`, and a
// 400 when it is not a positive integer.
Result<int> QueryLimit(const boost::urls::url_view& url, int fallback, int max) {
  PARLEY_ASSIGN_OR_RETURN(std::optional<int64_t> limit, QueryInt(url, "limit"));
  if (!limit) return fallback;
  if (*limit < 1) return MakeError(Errc::kBadRequest, "query parameter 'limit' must be a positive integer");
  return static_cast<int>(std::min<int64_t>(*limit, max));
}

std::string_view MimeOf(const std::string& path) {
  auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  return "application/octet-stream";
}

constexpr std::string_view kPlaceholderPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parley</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1d2430}
code{background:#eef1f5;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Parley is running</h1>
<p>This node speaks the Parley wire protocol v1: HTTP under <code>/v1</code> and WebSocket at
<code>/v1/ws</code>. Register with <code>POST /v1/auth/register</code>, then open the WebSocket and send
<code>{"id":1,"type":"hello","token":"&lt;access_token&gt;"}</code>.</p>
<p>Health: <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · <a href="/metrics">/metrics</a></p>
</body></html>
)";

// ---- routes -----------------------------------------------------------------------

// What a route's handler sees: the request, its URL, the pattern's
// captures in order, and (on authenticated routes) the caller.
struct Call {
  chat::Service& service;
  const ApiRequest& req;
  boost::urls::url_view url;
  std::vector<std::string> params;
  UserId me;
  std::string client_address;
  // The answering node, for the calls about it (§7's admin calls).
  const NodeInfo* node = nullptr;
  metrics::Metrics* metrics = nullptr;
};

using Handler = ApiResponse (*)(Call&);

// Reads the request body as a JSON object, then hands it to `f`.
template <class F>
ApiResponse WithBody(const Call& c, F f) {
  auto body = protocol::ParseJsonObject(c.req.body, "body");
  if (!body) return Fail(body.error());
  return f(*body);
}

ApiResponse SessionAnswer(int status, const Result<chat::AuthSession>& s) {
  if (!s) return Fail(s.error());
  return Json(status, protocol::SessionBody(s->user, s->access_token, s->refresh_token, s->expires_in));
}

ApiResponse Register(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto username = Field(body, "username");
    if (!username) return Fail(username.error());
    auto password = Field(body, "password");
    if (!password) return Fail(password.error());
    auto display = protocol::OptionalString(body, "display_name");
    if (!display) return Fail(display.error());
    return SessionAnswer(201, c.service.Register(*username, *password, *display));
  });
}

ApiResponse Login(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto username = Field(body, "username");
    if (!username) return Fail(username.error());
    auto password = Field(body, "password");
    if (!password) return Fail(password.error());
    return SessionAnswer(200, c.service.Login(*username, *password, c.client_address));
  });
}

ApiResponse Refresh(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto token = Field(body, "refresh_token");
    if (!token) return Fail(token.error());
    return SessionAnswer(200, c.service.Refresh(*token));
  });
}

// The caller named by the request's `Authorization: Bearer` token.
Result<UserId> BearerUser(chat::Service& service, const ApiRequest& req) {
  constexpr std::string_view kBearer = "Bearer ";
  if (req.authorization.size() <= kBearer.size() ||
      req.authorization.compare(0, kBearer.size(), kBearer) != 0) {
    return MakeError(Errc::kUnauthorized, "missing bearer token");
  }
  auto claims = service.Authenticate(std::string_view(req.authorization).substr(kBearer.size()));
  if (!claims) return std::move(claims).error();
  return claims->user;
}

// With `"all": true` and the bearer token, logout everywhere (PROTOCOL.md
// §7); else the family of one refresh token.
ApiResponse Logout(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    const json::value* all = body.if_contains("all");
    if (all && !all->is_bool() && !all->is_null()) return Fail(Errc::kBadRequest, "'all' must be a boolean");
    if (all && all->is_bool() && all->get_bool()) {
      auto me = BearerUser(c.service, c.req);
      if (!me) return Fail(me.error());
      auto ok = c.service.LogoutAll(*me);
      if (!ok) return Fail(ok.error());
      return NoContent();
    }
    auto token = Field(body, "refresh_token");
    if (!token) return Fail(token.error());
    auto ok = c.service.Logout(*token);
    if (!ok) return Fail(ok.error());
    return NoContent();
  });
}

ApiResponse ChangePassword(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto old_password = Field(body, "old_password");
    if (!old_password) return Fail(old_password.error());
    auto new_password = Field(body, "new_password");
    if (!new_password) return Fail(new_password.error());
    return SessionAnswer(200, c.service.ChangePassword(c.me, *old_password, *new_password, c.client_address));
  });
}

ApiResponse DeleteMe(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto password = Field(body, "password");
    if (!password) return Fail(password.error());
    auto ok = c.service.DeleteAccount(c.me, *password, c.client_address);
    if (!ok) return Fail(ok.error());
    return NoContent();
  });
}

ApiResponse GetMe(Call& c) {
  auto u = c.service.Me(c.me);
  if (!u) {
    return Fail(u.error().code == Errc::kNotFound ? MakeError(Errc::kUnauthorized, "user no longer exists")
                                                  : u.error());
  }
  return Json(200, protocol::ToJson(*u));
}

ApiResponse UpdateMe(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto display_name = Field(body, "display_name");
    if (!display_name) return Fail(display_name.error());
    auto u = c.service.UpdateMe(c.me, *display_name);
    if (!u) return Fail(u.error());
    return Json(200, protocol::ToJson(*u));
  });
}

// The user's data as one JSON document, streamed (issue 16).
ApiResponse ExportMe(Call& c) {
  auto doc = c.service.Export(c.me);
  if (!doc) return Fail(doc.error());
  ApiResponse r;
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"parley-export.json\"");
  std::shared_ptr<chat::AccountExport> d = std::move(doc).value();
  r.stream = [d] { return d->Next(); };
  return r;
}

ApiResponse GetUser(Call& c) {
  auto u = c.service.GetUser(c.me, c.params[0]);
  if (!u) return Fail(u.error());
  return Json(200, protocol::ToJson(*u));
}

ApiResponse ListConversations(Call& c) {
  auto list = c.service.Conversations(c.me);
  if (!list) return Fail(list.error());
  return Json(200, protocol::ConversationsBody(*list));
}

ApiResponse CreateGroup(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto kind = protocol::OptionalString(body, "kind");
    if (!kind) return Fail(kind.error());
    if (!kind->empty() && *kind != "group") {
      return Fail(Errc::kBadRequest, "kind must be \"group\"; open a DM with POST /v1/conversations/dm");
    }
    auto title = Field(body, "title");
    if (!title) return Fail(title.error());
    auto members = protocol::StringList(body, "members", "usernames");
    if (!members) return Fail(members.error());
    auto conv = c.service.CreateGroup(c.me, *title, *members);
    if (!conv) return Fail(conv.error());
    return Json(201, protocol::ToJson(*conv));
  });
}

ApiResponse OpenDm(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto username = Field(body, "username");
    if (!username) return Fail(username.error());
    auto conv = c.service.OpenDm(c.me, *username);
    if (!conv) return Fail(conv.error());
    return Json(200, protocol::ToJson(*conv));
  });
}

// The {conv} capture (params[0]) as a conversation id; a 404 when it is not one.
Result<ConversationId> ConvParam(const Call& c) {
  auto id = ConversationId::Parse(c.params[0]);
  if (!id) return MakeError(Errc::kNotFound, "no such conversation");
  return *id;
}

ApiResponse History(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  auto before = QueryInt(c.url, "before");
  if (!before) return Fail(before.error());
  auto after = QueryInt(c.url, "after");
  if (!after) return Fail(after.error());
  auto limit = QueryLimit(c.url, protocol::kDefaultHistoryLimit, protocol::kMaxHistoryLimit);
  if (!limit) return Fail(limit.error());
  auto msgs = c.service.History(c.me, *conv, *before, *after, *limit);
  if (!msgs) return Fail(msgs.error());
  return Json(200, protocol::MessagesBody(*msgs));
}

// GET /v1/search?q=&conv=&limit=&cursor= (PROTOCOL.md §6). A `conv` that is
// not an id is a conversation that does not exist (404), as in History.
ApiResponse Search(Call& c) {
  auto text_param = [&](std::string_view key) {
    auto it = c.url.params().find(key);
    return it == c.url.params().end() || !(*it).has_value ? std::string() : std::string((*it).value);
  };
  std::optional<ConversationId> conv;
  if (std::string s = text_param("conv"); !s.empty()) {
    conv = ConversationId::Parse(s);
    if (!conv) return Fail(Errc::kNotFound, "no such conversation");
  }
  auto limit = QueryInt(c.url, "limit");
  if (!limit) return Fail(limit.error());
  if (*limit && **limit > store::kMaxSearchLimit) {
    return Fail(Errc::kBadRequest, "limit must be at most " + std::to_string(store::kMaxSearchLimit));
  }
  auto page =
      c.service.Search(c.me, text_param("q"), conv,
                       static_cast<int>(limit->value_or(store::kDefaultSearchLimit)), text_param("cursor"));
  if (!page) return Fail(page.error());
  json::array results;
  results.reserve(page->results.size());
  for (const Message& m : page->results) results.push_back(protocol::ToJson(m));
  return Json(200, json::object{{"results", std::move(results)},
                                {"next", page->next ? json::value(*page->next) : json::value(nullptr)}});
}

ApiResponse ListMembers(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  auto after = QueryInt(c.url, "after");
  if (!after) return Fail(after.error());
  auto limit = QueryLimit(c.url, 100, 1000);
  if (!limit) return Fail(limit.error());
  auto page = c.service.Members(c.me, *conv, UserId(after->value_or(0)), *limit);
  if (!page) return Fail(page.error());
  return Json(200, protocol::MembersBody(page->members, page->next));
}

ApiResponse AddMember(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  return WithBody(c, [&](const json::object& body) {
    auto username = Field(body, "username");
    if (!username) return Fail(username.error());
    auto updated = c.service.AddMember(c.me, *conv, *username);
    if (!updated) return Fail(updated.error());
    return Json(200, protocol::ToJson(*updated));
  });
}

ApiResponse RemoveMember(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  auto ok = c.service.RemoveMember(c.me, *conv, c.params[1]);
  if (!ok) return Fail(ok.error());
  return NoContent();
}

// ---- §6: uploads (upload_api.cc) ----

ApiResponse GetUpload(Call& c) { return ServeUploadToUser(c.service, c.req, c.me, c.params[0]); }

// ---- §7: invites and blocks ----

ApiResponse CreateInvite(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  // Every field is optional, so an empty body means the defaults.
  auto body = c.req.body.empty() ? Result<json::object>(json::object())
                                 : protocol::ParseJsonObject(c.req.body, "body");
  if (!body) return Fail(body.error());
  auto max_uses = protocol::OptionalNonNegative(*body, "max_uses");
  if (!max_uses) return Fail(max_uses.error());
  auto expires_in_s = protocol::OptionalNonNegative(*body, "expires_in_s");
  if (!expires_in_s) return Fail(expires_in_s.error());
  auto invite = c.service.CreateInvite(c.me, *conv, *max_uses, *expires_in_s);
  if (!invite) return Fail(invite.error());
  return Json(201, protocol::InviteBody(*invite));
}

ApiResponse JoinByInvite(Call& c) {
  auto conv = c.service.JoinByInvite(c.me, c.params[0]);
  if (!conv) return Fail(conv.error());
  return Json(200, protocol::ToJson(*conv));
}

ApiResponse DeleteInvite(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  auto ok = c.service.DeleteInvite(c.me, *conv, c.params[1]);
  if (!ok) return Fail(ok.error());
  return NoContent();
}

ApiResponse PutBlock(Call& c) {
  auto ok = c.service.Block(c.me, c.params[0]);
  if (!ok) return Fail(ok.error());
  return NoContent();
}

ApiResponse DeleteBlock(Call& c) {
  auto ok = c.service.Unblock(c.me, c.params[0]);
  if (!ok) return Fail(ok.error());
  return NoContent();
}

ApiResponse ListBlocks(Call& c) {
  auto users = c.service.Blocked(c.me);
  if (!users) return Fail(users.error());
  return Json(200, protocol::UsersBody(*users));
}

// §8: bots. The key is in the answer to the creation only.
ApiResponse CreateBot(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto username = Field(body, "username");
    if (!username) return Fail(username.error());
    auto display = protocol::OptionalString(body, "display_name");
    if (!display) return Fail(display.error());
    auto made = c.service.CreateBot(c.me, *username, *display);
    if (!made) return Fail(made.error());
    return Json(201, {{"bot", protocol::ToJson(made->bot)}, {"token", made->api_key}});
  });
}

ApiResponse ListBots(Call& c) {
  auto bots = c.service.Bots(c.me);
  if (!bots) return Fail(bots.error());
  json::array out;
  for (const User& b : *bots) out.push_back(protocol::ToJson(b));
  return Json(200, {{"bots", std::move(out)}});
}

// §8: webhooks. The secret is in the answer to the creation only.
json::object WebhookJson(const store::WebhookRecord& w, bool with_secret) {
  json::object o{{"id", std::to_string(w.id)}, {"url", w.url}};
  if (with_secret) {
    o["secret"] = w.secret;
  } else {
    o["failing_since"] = w.failing_since ? json::value(*w.failing_since) : json::value(nullptr);
  }
  return o;
}

ApiResponse CreateWebhook(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  return WithBody(c, [&](const json::object& body) {
    auto url = Field(body, "url");
    if (!url) return Fail(url.error());
    auto made = c.service.CreateWebhook(c.me, *conv, *url);
    if (!made) return Fail(made.error());
    return Json(201, {{"webhook", WebhookJson(*made, true)}});
  });
}

ApiResponse ListWebhooks(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  auto hooks = c.service.Webhooks(c.me, *conv);
  if (!hooks) return Fail(hooks.error());
  json::array out;
  for (const store::WebhookRecord& w : *hooks) out.push_back(WebhookJson(w, false));
  return Json(200, {{"webhooks", std::move(out)}});
}

ApiResponse DeleteWebhook(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  auto ok = c.service.DeleteWebhook(c.me, *conv, c.params[1]);
  if (!ok) return Fail(ok.error());
  return NoContent();
}

ApiResponse DeleteBot(Call& c) {
  auto ok = c.service.DeleteBot(c.me, c.params[0]);
  if (!ok) return Fail(ok.error());
  return NoContent();
}

// ---- §8: Web Push ----

// The server's VAPID public key: public, like the key itself; a page asks
// for it before it subscribes.
ApiResponse GetVapidKey(Call& c) {
  auto key = c.service.PushPublicKey();
  if (!key) return Fail(key.error());
  return Json(200, {{"public_key", *key}});
}

ApiResponse AddPushSubscription(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto endpoint = Field(body, "endpoint");
    if (!endpoint) return Fail(endpoint.error());
    const json::value* keys = body.if_contains("keys");
    if (!keys || !keys->is_object())
      return Fail(MakeError(Errc::kBadRequest, "field 'keys' must be an object with 'p256dh' and 'auth'"));
    auto p256dh = Field(keys->get_object(), "p256dh");
    if (!p256dh) return Fail(MakeError(Errc::kBadRequest, "keys.p256dh: " + p256dh.error().message));
    auto auth = Field(keys->get_object(), "auth");
    if (!auth) return Fail(MakeError(Errc::kBadRequest, "keys.auth: " + auth.error().message));
    auto ok = c.service.AddPushSubscription(c.me, *endpoint, *p256dh, *auth);
    if (!ok) return Fail(ok.error());
    return Json(201, {{"endpoint", *endpoint}});
  });
}

ApiResponse DeletePushSubscription(Call& c) {
  return WithBody(c, [&](const json::object& body) {
    auto endpoint = Field(body, "endpoint");
    if (!endpoint) return Fail(endpoint.error());
    auto ok = c.service.RemovePushSubscription(c.me, *endpoint);
    if (!ok) return Fail(ok.error());
    return NoContent();
  });
}

// ---- §7: server administration ----
// Dispatch has checked that the caller is a server administrator (403
// before anything else); the service checks again.

ApiResponse AdminUsers(Call& c) {
  auto after = QueryInt(c.url, "after");
  if (!after) return Fail(after.error());
  auto limit = QueryLimit(c.url, 100, 1000);
  if (!limit) return Fail(limit.error());
  auto page = c.service.AdminListUsers(c.me, UserId(after->value_or(0)), *limit);
  if (!page) return Fail(page.error());
  json::array users;
  users.reserve(page->users.size());
  for (const store::UserListing& u : page->users) {
    json::object o = protocol::ToJson(u.user);
    o["created_at"] = u.created_at;
    o["disabled"] = u.disabled;
    users.push_back(std::move(o));
  }
  return Json(
      200, json::object{{"users", std::move(users)},
                        {"next", page->next ? json::value(page->next->ToString()) : json::value(nullptr)}});
}

ApiResponse AdminSetDisabled(Call& c, bool disabled) {
  auto ok = c.service.AdminSetDisabled(c.me, c.params[0], disabled);
  if (!ok) return Fail(ok.error());
  return NoContent();
}
ApiResponse AdminDisable(Call& c) { return AdminSetDisabled(c, true); }
ApiResponse AdminEnable(Call& c) { return AdminSetDisabled(c, false); }

// How long an entry appended by an HTTP request (an administrator's delete,
// an HTTP send) waits for its commit before 503 (it may still be applied
// after).
constexpr std::chrono::seconds kCommitWait{10};

// Appends an entry through `append` (the log and the sequencer, as the
// WebSocket's requests do) with an origin this node's HttpAnswers expects,
// and waits for the sequencer's answer: the `sent` frame, or the error.
Result<json::object> AppendAndWait(Call& c, const std::function<Result<void>(const log::Origin&)>& append,
                                   std::string_view what) {
  HttpAnswers* answers = c.node ? c.node->answers : nullptr;
  if (!answers) return MakeError(Errc::kUnavailable, "this node cannot wait for a commit");
  // Expected before the append: the answer may come back before Wait.
  const uint64_t id = answers->Expect();
  const log::Origin origin{c.node->node_id, kHttpIoThread, id, 0};
  if (auto ok = append(origin); !ok) {
    answers->Wait(id, std::chrono::milliseconds(0));  // forgets it
    return ok.error();
  }
  auto answer = answers->Wait(id, kCommitWait);
  if (!answer) {
    return MakeError(Errc::kUnavailable,
                     "the " + std::string(what) + " was not confirmed in time; it may still be applied");
  }
  auto o = protocol::ParseJsonObject(*answer, "answer");
  if (!o) return MakeError(Errc::kInternal, "unreadable commit answer");
  if (protocol::GetString(*o, "type") == "sent") return std::move(*o);
  const auto code = ErrcFromName(protocol::GetString(*o, "code"));
  return MakeError(code ? *code : Errc::kInternal, protocol::GetString(*o, "message", "commit failed"));
}

// Deletes through the log and the sequencer, as a member's `delete`, and
// answers once the commit is decided.
ApiResponse AdminDeleteMessage(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  int64_t seq = 0;
  const std::string& text = c.params[1];
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc() || end != text.data() + text.size() || seq < 1) {
    return Fail(Errc::kNotFound, "no such message");
  }
  auto sent = AppendAndWait(
      c, [&](const log::Origin& origin) { return c.service.AdminDeleteMessage(c.me, *conv, seq, origin); },
      "delete");
  if (!sent) return Fail(sent.error());
  return NoContent();
}

// §8: a message sent over HTTP (a bot's, or anyone's), with the guarantees
// of the WebSocket's `send`: the fields and their rules are the same, the
// answer comes once the entry is durable, and a repeat of the
// client_msg_id answers 200 with the first answer instead of 201.
ApiResponse SendOverHttp(Call& c) {
  auto conv = ConvParam(c);
  if (!conv) return Fail(conv.error());
  return WithBody(c, [&](const json::object& body) {
    json::object fields = body;
    fields["conv"] = conv->ToString();
    auto req = protocol::ParseSendFields(fields);
    if (!req) return Fail(req.error());
    auto sent = AppendAndWait(
        c, [&](const log::Origin& origin) { return c.service.Send(c.me, std::move(*req), origin); },
        "message");
    if (!sent) return Fail(sent.error());
    const json::value* duplicate = sent->if_contains("duplicate");
    const bool repeat = duplicate && duplicate->is_bool() && duplicate->get_bool();
    json::object out;
    for (std::string_view key : {"conv", "seq", "id", "ts"}) {
      if (const json::value* v = sent->if_contains(key)) out[key] = *v;
    }
    return Json(repeat ? 200 : 201, out);
  });
}

ApiResponse AdminStats(Call& c) {
  auto totals = c.service.AdminStats(c.me);
  if (!totals) return Fail(totals.error());
  const auto uptime = c.node ? std::chrono::steady_clock::now() - c.node->started : std::chrono::seconds(0);
  return Json(200, json::object{
                       {"users", totals->users},
                       {"conversations", totals->conversations},
                       {"messages", totals->entries},
                       {"connections", static_cast<int64_t>(c.metrics ? c.metrics->connections.Value() : 0)},
                       {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
                   });
}

// The OpenAPI 3.1 description of every route (src/gateway/openapi.json,
// embedded at build time). Public, like the protocol it describes.
ApiResponse OpenApi(Call&) { return {200, std::string(OpenApiDocument()), "application/json", {}}; }

// One row per call of PROTOCOL.md section 1 under /v1. A pattern's
// segments follow "/v1/"; "{...}" captures one segment. Public routes are
// the account calls made before there is a token.
struct Route {
  std::string_view method;
  std::string_view pattern;
  bool authenticated;
  Handler handler;
};

constexpr Route kRoutes[] = {
    {"POST", "auth/register", false, Register},
    {"POST", "auth/login", false, Login},
    {"POST", "auth/refresh", false, Refresh},
    {"POST", "auth/logout", false, Logout},
    {"POST", "auth/password", true, ChangePassword},
    {"GET", "me", true, GetMe},
    {"DELETE", "me", true, DeleteMe},
    {"PATCH", "me", true, UpdateMe},
    {"GET", "me/export", true, ExportMe},
    {"GET", "users/{username}", true, GetUser},
    {"GET", "conversations", true, ListConversations},
    {"POST", "conversations", true, CreateGroup},
    {"POST", "conversations/dm", true, OpenDm},
    {"GET", "conversations/{conv}/messages", true, History},
    {"POST", "conversations/{conv}/messages", true, SendOverHttp},  // §8
    {"GET", "conversations/{conv}/members", true, ListMembers},
    {"GET", "search", true, Search},
    {"POST", "conversations/{conv}/members", true, AddMember},
    {"DELETE", "conversations/{conv}/members/{username}", true, RemoveMember},
    // §6 (POST uploads is streamed by the listener: BeginUpload)
    {"GET", "uploads/{upload}", true, GetUpload},
    {"HEAD", "uploads/{upload}", true, GetUpload},
    // §7
    {"POST", "conversations/{conv}/invites", true, CreateInvite},
    {"DELETE", "conversations/{conv}/invites/{code}", true, DeleteInvite},
    {"POST", "invites/{code}/join", true, JoinByInvite},
    {"GET", "blocks", true, ListBlocks},
    {"PUT", "blocks/{username}", true, PutBlock},
    {"DELETE", "blocks/{username}", true, DeleteBlock},
    // §8
    {"POST", "bots", true, CreateBot},
    {"GET", "bots", true, ListBots},
    {"DELETE", "bots/{username}", true, DeleteBot},
    {"POST", "conversations/{conv}/webhooks", true, CreateWebhook},
    {"GET", "conversations/{conv}/webhooks", true, ListWebhooks},
    {"DELETE", "conversations/{conv}/webhooks/{webhook}", true, DeleteWebhook},
    {"GET", "push/vapid", false, GetVapidKey},  // §8
    {"POST", "push/subscriptions", true, AddPushSubscription},
    {"DELETE", "push/subscriptions", true, DeletePushSubscription},
    // §7: server administration (every "admin/" route: administrators only)
    {"GET", "admin/users", true, AdminUsers},
    {"POST", "admin/users/{username}/disable", true, AdminDisable},
    {"POST", "admin/users/{username}/enable", true, AdminEnable},
    {"DELETE", "admin/conversations/{conv}/messages/{seq}", true, AdminDeleteMessage},
    {"GET", "admin/stats", true, AdminStats},
    {"GET", "openapi.json", false, OpenApi},
};

// Answered by Dispatch before the table, or by the listener (the upgrade).
constexpr std::string_view kRoutesOutsideTable[][2] = {
    {"GET", "/healthz"},
    {"GET", "/readyz"},
    {"GET", "/metrics"},
    {"GET", "/v1/ws"},
    // Streamed by the listener as the body arrives (HttpApi::BeginUpload).
    {"POST", "/v1/uploads"}};

// Whether `path` (the segments after "v1") fits `pattern`; the captures go
// to `params` when given.
bool Matches(std::string_view pattern, const std::vector<std::string>& path,
             std::vector<std::string>* params) {
  size_t i = 0;
  while (!pattern.empty()) {
    size_t slash = pattern.find('/');
    std::string_view part = pattern.substr(0, slash);
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash + 1);
    if (i >= path.size()) return false;
    bool capture = part.size() > 2 && part.front() == '{' && part.back() == '}';
    if (!capture && part != path[i]) return false;
    if (capture && params) params->push_back(path[i]);
    ++i;
  }
  return i == path.size();
}

}  // namespace

ApiResponse ErrorResponse(const Error& error) { return Fail(error); }
Result<UserId> AuthenticatedCaller(chat::Service& service, const ApiRequest& request) {
  return BearerUser(service, request);
}

HttpApi::HttpApi(chat::Service& service, metrics::Metrics& metrics, ReadyProbe ready, std::string web_root,
                 NodeInfo node)
    : service_(service),
      metrics_(metrics),
      ready_(std::move(ready)),
      web_root_(std::move(web_root)),
      node_(node) {}

std::vector<RouteInfo> HttpApi::Routes() {
  std::vector<RouteInfo> out;
  for (const auto& [method, path] : kRoutesOutsideTable)
    out.push_back({std::string(method), std::string(path)});
  for (const Route& r : kRoutes) out.push_back({std::string(r.method), "/v1/" + std::string(r.pattern)});
  return out;
}

ApiResponse HttpApi::Static(const std::string& path) {
  if (web_root_.empty()) {
    if (path == "/" || path == "/index.html")
      return {200, std::string(kPlaceholderPage), "text/html; charset=utf-8", {}};
    return Fail(Errc::kNotFound, "no such page");
  }
  // Resolve inside web_root only: no "..", no absolute escapes.
  std::string rel = path == "/" ? "index.html" : path.substr(1);
  if (rel.find("..") != std::string::npos || rel.find('\0') != std::string::npos) {
    return Fail(Errc::kNotFound, "no such page");
  }
  std::filesystem::path file = std::filesystem::path(web_root_) / rel;
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) file /= "index.html";
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(Errc::kNotFound, "no such page");
  std::ostringstream ss;
  ss << in.rdbuf();
  return {200, ss.str(), std::string(MimeOf(file.string())), {}};
}

ApiResponse HttpApi::Refuse(Errc code, std::string message) {
  metrics_.CountError(ErrcName(code));
  ApiResponse r;
  r.status = HttpStatus(code);
  r.body = json::serialize(protocol::ErrorBody(MakeError(code, std::move(message))));
  return r;
}

ApiResponse HttpApi::Handle(const ApiRequest& req) {
  metrics_.http_requests.Increment();
  ApiResponse r = Dispatch(req);
  // Every error answer counts by its code, as the WebSocket side's do.
  if (r.status >= 400) {
    if (auto code = ErrcFromHttpStatus(r.status)) metrics_.CountError(ErrcName(*code));
  }
  return r;
}

ApiResponse HttpApi::Dispatch(const ApiRequest& req) {
  auto parsed = boost::urls::parse_origin_form(req.target);
  if (!parsed) return Fail(Errc::kBadRequest, "bad request target");
  boost::urls::url_view url = *parsed;
  std::vector<std::string> seg;
  for (auto s : url.segments()) seg.emplace_back(s);
  const std::string& m = req.method;
  const std::string path = url.path();

  if (path == "/healthz") return Json(200, {{"status", "ok"}});
  if (path == "/readyz") {
    auto ok = ready_();
    if (!ok) return Json(503, protocol::ErrorBody(ok.error()));
    return Json(200, {{"status", "ready"}});
  }
  if (path == "/metrics") return {200, metrics_.Serialize(), "text/plain; version=0.0.4", {}};
  if (seg.empty() || seg[0] != "v1") {
    if (m != "GET" && m != "HEAD") return Fail(Errc::kNotFound, "no such route");
    return Static(path);
  }
  seg.erase(seg.begin());

  const Route* route = nullptr;
  bool needs_token = false;  // the path is an authenticated route's, whatever the method
  for (const auto& r : kRoutes) {
    if (!Matches(r.pattern, seg, nullptr)) continue;
    needs_token = needs_token || r.authenticated;
    if (r.method == m) route = &r;
  }
  // A signed upload url works without a token (PROTOCOL.md §6).
  if (seg.size() == 2 && seg[0] == "uploads" && (m == "GET" || m == "HEAD")) {
    if (auto signed_answer = ServeUploadToUrl(service_, req, url, seg[1])) return *std::move(signed_answer);
  }
  // /v1/auth/<call> are the calls made without a token, and so is a route
  // marked public (the OpenAPI description); every other path asks for one
  // before it says whether it exists, so routes cannot be probed without a
  // login.
  const bool public_path =
      route ? !route->authenticated : seg.size() == 2 && seg[0] == "auth" && !needs_token;
  Call call{
      service_,
      req,
      url,
      {},
      UserId(),
      auth::ResolveClientAddress(req.peer_address, req.forwarded_for, service_.options().trusted_proxies)};
  if (!public_path) {
    auto me = BearerUser(service_, req);
    if (!me) return Fail(me.error());
    call.me = *me;
  }
  if (!route) return Fail(Errc::kNotFound, "no such route");
  Matches(route->pattern, seg, &call.params);
  call.node = &node_;
  call.metrics = &metrics_;
  // §7: only server administrators learn anything from an admin route.
  if (route->pattern.starts_with("admin/")) {
    if (auto ok = service_.CheckServerAdmin(call.me); !ok) return Fail(ok.error());
  }
  return route->handler(call);
}

}  // namespace parley::gateway
