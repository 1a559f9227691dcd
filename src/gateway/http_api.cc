#include "gateway/http_api.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <boost/url.hpp>

#include "auth/login_throttle.h"
#include "chat/service.h"
#include "common/logging.h"
#include "metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include "protocol/frames.h"

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

json::object SessionJson(const chat::AuthSession& s) {
  return {{"user", protocol::ToJson(s.user)},
          {"access_token", s.access_token},
          {"refresh_token", s.refresh_token},
          {"expires_in", s.expires_in}};
}

// The JSON object body of a request, or a 400 naming what is wrong.
Result<json::object> BodyObject(const std::string& body) {
  json::parse_options opts;
  opts.max_depth = 16;
  std::error_code ec;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec) return MakeError(Errc::kBadRequest, "body is not valid JSON: " + ec.message());
  if (!v.is_object()) return MakeError(Errc::kBadRequest, "body must be a JSON object");
  return std::move(v.as_object());
}

Result<std::string> StringField(const json::object& o, std::string_view key, bool required = true) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) {
    if (required) return MakeError(Errc::kBadRequest, "missing field '" + std::string(key) + "'");
    return std::string();
  }
  if (!v->is_string())
    return MakeError(Errc::kBadRequest, "field '" + std::string(key) + "' must be a string");
  return std::string(v->get_string());
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

}  // namespace

HttpApi::HttpApi(chat::Service& service, metrics::Metrics& metrics, ReadyProbe ready, std::string web_root)
    : service_(service), metrics_(metrics), ready_(std::move(ready)), web_root_(std::move(web_root)) {}

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

ApiResponse HttpApi::Handle(const ApiRequest& req) {
  metrics_.http_requests.Increment();
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

  const std::string client_address =
      auth::ResolveClientAddress(req.peer_address, req.forwarded_for, service_.options().trusted_proxies);

  // ---- unauthenticated: accounts (password change is authenticated, below) ----
  if (seg.size() == 3 && seg[1] == "auth" && seg[2] != "password") {
    if (m != "POST") return Fail(Errc::kNotFound, "no such route");
    auto body = BodyObject(req.body);
    if (!body) return Fail(body.error());
    if (seg[2] == "register" || seg[2] == "login") {
      auto username = StringField(*body, "username");
      if (!username) return Fail(username.error());
      auto password = StringField(*body, "password");
      if (!password) return Fail(password.error());
      if (seg[2] == "register") {
        auto display = StringField(*body, "display_name", false);
        if (!display) return Fail(display.error());
        auto s = service_.Register(*username, *password, *display);
        if (!s) return Fail(s.error());
        return Json(201, SessionJson(*s));
      }
      auto s = service_.Login(*username, *password, client_address);
      if (!s) return Fail(s.error());
      return Json(200, SessionJson(*s));
    }
    if (seg[2] == "refresh" || seg[2] == "logout") {
      auto token = StringField(*body, "refresh_token");
      if (!token) return Fail(token.error());
      if (seg[2] == "logout") {
        auto ok = service_.Logout(*token);
        if (!ok) return Fail(ok.error());
        return NoContent();
      }
      auto s = service_.Refresh(*token);
      if (!s) return Fail(s.error());
      return Json(200, SessionJson(*s));
    }
    return Fail(Errc::kNotFound, "no such route");
  }

  // ---- everything else needs a bearer token ----
  constexpr std::string_view kBearer = "Bearer ";
  if (req.authorization.size() <= kBearer.size() ||
      req.authorization.compare(0, kBearer.size(), kBearer) != 0) {
    return Fail(Errc::kUnauthorized, "missing bearer token");
  }
  auto claims =
      service_.Authenticate(std::string_view(req.authorization).substr(kBearer.size()));  // blocking ok here
  if (!claims) return Fail(claims.error());
  UserId me = claims->user;

  if (seg.size() == 3 && seg[1] == "auth" && seg[2] == "password") {
    if (m != "POST") return Fail(Errc::kNotFound, "no such route");
    auto body = BodyObject(req.body);
    if (!body) return Fail(body.error());
    auto old_password = StringField(*body, "old_password");
    if (!old_password) return Fail(old_password.error());
    auto new_password = StringField(*body, "new_password");
    if (!new_password) return Fail(new_password.error());
    auto s = service_.ChangePassword(me, *old_password, *new_password, client_address);
    if (!s) return Fail(s.error());
    return Json(200, SessionJson(*s));
  }
  if (seg.size() == 2 && seg[1] == "me" && m == "DELETE") {
    auto body = BodyObject(req.body);
    if (!body) return Fail(body.error());
    auto password = StringField(*body, "password");
    if (!password) return Fail(password.error());
    auto ok = service_.DeleteAccount(me, *password, client_address);
    if (!ok) return Fail(ok.error());
    return NoContent();
  }
  if (seg.size() == 2 && seg[1] == "me" && m == "GET") {
    auto u = service_.Me(me);
    if (!u)
      return Fail(u.error().code == Errc::kNotFound ? MakeError(Errc::kUnauthorized, "user no longer exists")
                                                    : u.error());
    return Json(200, protocol::ToJson(*u));
  }
  if (seg.size() == 3 && seg[1] == "users" && m == "GET") {
    auto u = service_.GetUser(seg[2]);
    if (!u) return Fail(u.error());
    return Json(200, protocol::ToJson(*u));
  }
  if (seg.size() >= 2 && seg[1] == "conversations") {
    if (seg.size() == 2 && m == "GET") {
      auto list = service_.Conversations(me);
      if (!list) return Fail(list.error());
      json::array arr;
      for (const auto& c : *list) arr.push_back(protocol::ToJson(c));
      return Json(200, {{"conversations", std::move(arr)}});
    }
    if (seg.size() == 2 && m == "POST") {
      auto body = BodyObject(req.body);
      if (!body) return Fail(body.error());
      auto kind = StringField(*body, "kind", false);
      if (!kind) return Fail(kind.error());
      if (!kind->empty() && *kind != "group") {
        return Fail(Errc::kBadRequest, "kind must be \"group\"; open a DM with POST /v1/conversations/dm");
      }
      auto title = StringField(*body, "title");
      if (!title) return Fail(title.error());
      std::vector<std::string> members;
      if (const json::value* v = body->if_contains("members"); v && !v->is_null()) {
        if (!v->is_array()) return Fail(Errc::kBadRequest, "field 'members' must be an array of usernames");
        for (const auto& u : v->get_array()) {
          if (!u.is_string()) return Fail(Errc::kBadRequest, "field 'members' must be an array of usernames");
          members.emplace_back(u.get_string());
        }
      }
      auto conv = service_.CreateGroup(me, *title, members);
      if (!conv) return Fail(conv.error());
      return Json(201, protocol::ToJson(*conv));
    }
    if (seg.size() == 3 && seg[2] == "dm" && m == "POST") {
      auto body = BodyObject(req.body);
      if (!body) return Fail(body.error());
      auto username = StringField(*body, "username");
      if (!username) return Fail(username.error());
      auto conv = service_.OpenDm(me, *username);
      if (!conv) return Fail(conv.error());
      return Json(200, protocol::ToJson(*conv));
    }
    if (seg.size() >= 4) {
      auto conv_id = ConversationId::Parse(seg[2]);
      if (!conv_id) return Fail(Errc::kNotFound, "no such conversation");
      if (seg.size() == 4 && seg[3] == "messages" && m == "GET") {
        auto before = QueryInt(url, "before");
        if (!before) return Fail(before.error());
        auto after = QueryInt(url, "after");
        if (!after) return Fail(after.error());
        auto limit = QueryInt(url, "limit");
        if (!limit) return Fail(limit.error());
        int n = protocol::kDefaultHistoryLimit;
        if (*limit && **limit < 1)
          return Fail(Errc::kBadRequest, "query parameter 'limit' must be a positive integer");
        if (*limit) n = static_cast<int>(std::min<int64_t>(**limit, protocol::kMaxHistoryLimit));
        auto msgs = service_.History(me, *conv_id, *before, *after, n);
        if (!msgs) return Fail(msgs.error());
        json::array arr;
        for (const auto& msg : *msgs) arr.push_back(protocol::ToJson(msg));
        return Json(200, {{"messages", std::move(arr)}});
      }
      if (seg.size() == 4 && seg[3] == "members" && m == "GET") {
        auto after = QueryInt(url, "after");
        if (!after) return Fail(after.error());
        auto limit = QueryInt(url, "limit");
        if (!limit) return Fail(limit.error());
        if (*limit && **limit < 1)
          return Fail(Errc::kBadRequest, "query parameter 'limit' must be a positive integer");
        int n = *limit ? static_cast<int>(std::min<int64_t>(**limit, 1000)) : 100;
        auto page = service_.Members(me, *conv_id, UserId(after->value_or(0)), n);
        if (!page) return Fail(page.error());
        json::array arr;
        for (const auto& mem : page->members) arr.push_back(protocol::ToJson(mem));
        return Json(200, {{"members", std::move(arr)},
                          {"next", page->next ? json::value(page->next->ToString()) : json::value(nullptr)}});
      }
      if (seg.size() == 4 && seg[3] == "members" && m == "POST") {
        auto body = BodyObject(req.body);
        if (!body) return Fail(body.error());
        auto username = StringField(*body, "username");
        if (!username) return Fail(username.error());
        auto conv = service_.AddMember(me, *conv_id, *username);
        if (!conv) return Fail(conv.error());
        return Json(200, protocol::ToJson(*conv));
      }
      if (seg.size() == 5 && seg[3] == "members" && m == "DELETE") {
        auto ok = service_.RemoveMember(me, *conv_id, seg[4]);
        if (!ok) return Fail(ok.error());
        return NoContent();
      }
    }
  }
  return Fail(Errc::kNotFound, "no such route");
}

}  // namespace parley::gateway
