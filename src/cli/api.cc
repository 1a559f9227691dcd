#include "cli/api.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "client/session.h"

namespace parley::cli {

namespace json = boost::json;

namespace {

constexpr auto kHttpTimeout = std::chrono::seconds(10);
// Refresh this long before the access token's expiry, to allow for clock skew
// and the time the request takes.
constexpr int64_t kExpirySlackMs = 15'000;

void ApplySession(SavedLogin& c, const client::Session& s) {
  c.username = s.username;
  c.user_id = s.user_id;
  c.access_token = s.access_token;
  c.refresh_token = s.refresh_token;
  c.access_expires_at_ms = s.expires_in > 0 ? NowMs() + s.expires_in * 1000 : 0;
}

// The query value of `s`: every byte but the unreserved ones percent-encoded.
std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A file's media type by its extension; the server serves only images,
// audio and video with theirs, so only those (and a few common documents)
// are worth naming.
std::string MediaTypeOf(const std::string& name) {
  static const std::map<std::string, std::string> kTypes = {
      {".png", "image/png"},   {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},     {".gif", "image/gif"},
      {".webp", "image/webp"}, {".mp3", "audio/mpeg"},  {".ogg", "audio/ogg"},       {".wav", "audio/wav"},
      {".mp4", "video/mp4"},   {".webm", "video/webm"}, {".pdf", "application/pdf"}, {".txt", "text/plain"},
  };
  std::string ext = std::filesystem::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  auto it = kTypes.find(ext);
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ServerErrorText(const client::Response& r) {
  if (auto e = protocol::ParseErrorBody(r.json)) {
    if (!e->message.empty()) return e->message + " (" + e->code_name + ")";
    return e->code_name;
  }
  return "HTTP " + std::to_string(r.status);
}

CliError Unreachable(const std::string& server, const std::string& detail) {
  std::string advice;
  if (detail.find(client::kUntrustedCertificate) != std::string::npos) {
    advice = "; if it uses a private CA, pass its certificate with --cacert FILE (or set PARLEY_CACERT)";
  }
  return CliError(kExitUnreachable,
                  "cannot reach the server at " + server + (detail.empty() ? "" : ": " + detail) + advice);
}

std::optional<client::TlsOptions> TlsFor(const ServerUrl& url, const std::string& ca_file) {
  if (!url.tls) return std::nullopt;
  client::TlsOptions options{ca_file};
  if (auto usable = client::CheckTlsOptions(options); !usable) {
    throw CliError(kExitUsage, usable.error().message);
  }
  return options;
}

void ThrowForResponse(const client::Response& r, const std::string& what, const std::string& server) {
  if (r.status == 0) throw Unreachable(server, r.error);
  int code = ExitCodeForStatus(r.status);
  std::string text = ServerErrorText(r);
  if (r.status == 429) {
    std::string retry = r.Header("retry-after");
    if (!retry.empty()) text += "; retry after " + retry + " s";
  }
  throw CliError(code == kExitOk ? kExitRejected : code, what + " failed: " + text);
}

Api Api::FromConfigDir(const std::string& config_dir, const std::string& ca_file) {
  if (config_dir.empty()) {
    throw CliError(kExitAuth, "not logged in (no config directory: set PARLEY_CONFIG_DIR or HOME)");
  }
  std::optional<SavedLogin> login = LoadLogin(config_dir);
  if (!login || !login->logged_in()) {
    throw CliError(kExitAuth, "not logged in; run 'parley login USERNAME --server URL' first");
  }
  std::string error;
  auto url = ParseServerUrl(login->server, &error);
  if (!url) throw CliError(kExitUnreachable, error + " (in " + LoginPath(config_dir) + ")");
  auto tls = TlsFor(*url, ca_file.empty() ? login->ca_file : ca_file);
  return Api(config_dir, std::move(*login), std::move(*url), std::move(tls));
}

Api::Api(std::string config_dir, SavedLogin login, ServerUrl url, std::optional<client::TlsOptions> tls)
    : config_dir_(std::move(config_dir)),
      login_(std::move(login)),
      url_(std::move(url)),
      tls_(std::move(tls)),
      http_(url_.host, url_.port, kHttpTimeout, tls_) {}

std::string Api::AccessToken(bool force) {
  bool expired = login_.access_token.empty() ||
                 (login_.access_expires_at_ms > 0 && NowMs() + kExpirySlackMs >= login_.access_expires_at_ms);
  if (force || expired) Refresh(login_.access_token);
  return login_.access_token;
}

void Api::Refresh(const std::string& stale_token) {
  LoginLock lock(config_dir_);
  // Another parley process may have refreshed meanwhile: the refresh token
  // rotates, so use what it saved rather than spend the old one again.
  if (auto saved = LoadLogin(config_dir_);
      saved && saved->logged_in() && saved->server == login_.server && saved->user_id == login_.user_id) {
    bool fresh = saved->access_expires_at_ms == 0 || NowMs() + kExpirySlackMs < saved->access_expires_at_ms;
    if (saved->access_token != stale_token && fresh) {
      login_ = std::move(*saved);
      return;
    }
    login_.refresh_token = saved->refresh_token;
  }
  client::Response r = http_.Request("POST", "/v1/auth/refresh", protocol::RefreshBody(login_.refresh_token));
  if (r.status == 401) {
    throw CliError(kExitAuth, "your login has expired; run 'parley login " + login_.username + " --server " +
                                  login_.server + "' again");
  }
  if (r.status != 200) ThrowForResponse(r, "refreshing the login", login_.server);
  auto session = client::ParseSession(r);
  if (!session) throw CliError(kExitRejected, "refreshing the login failed: " + session.error().message);
  ApplySession(login_, *session);
  SaveLogin(config_dir_, login_);
}

client::Response Api::Authed(const std::string& method, const std::string& target,
                             std::optional<std::string> body, const std::string& what,
                             std::string_view content_type) {
  client::Response r = http_.Request(method, target, body, AccessToken(), content_type);
  if (r.status == 401) {
    r = http_.Request(method, target, body, AccessToken(/*force=*/true), content_type);
    if (r.status == 401) {
      throw CliError(kExitAuth, "the server no longer accepts this login; run 'parley login' again");
    }
  }
  if (!r.ok()) ThrowForResponse(r, what, login_.server);
  return r;
}

json::value Api::Call(const std::string& method, const std::string& target, std::optional<std::string> body,
                      const std::string& what) {
  return std::move(Authed(method, target, std::move(body), what).json);
}

UploadId Api::Upload(const std::string& path) {
  const std::string what = "uploading " + path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError(kExitUsage, "cannot read " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw CliError(kExitUsage, path + " is empty: there is nothing to upload");
  const std::string name = std::filesystem::path(path).filename().string();
  client::Response r =
      Authed("POST", "/v1/uploads?name=" + PercentEncode(name), std::move(bytes), what, MediaTypeOf(name));
  const json::value* id = r.json.is_object() ? r.json.as_object().if_contains("upload") : nullptr;
  std::optional<UploadId> parsed;
  if (id != nullptr && id->is_object()) {
    if (const json::value* v = id->as_object().if_contains("id"); v != nullptr && v->is_string()) {
      parsed = UploadId::Parse(v->get_string());
    }
  }
  if (!parsed) throw CliError(kExitRejected, what + ": the server's answer holds no upload id");
  return *parsed;
}

std::string Api::Download(const std::string& url, const std::string& what) {
  return std::move(Authed("GET", url, std::nullopt, what).body);
}

User Api::Me() {
  return Expect(protocol::ParseUser(Call("GET", "/v1/me", std::nullopt, "whoami")), "whoami");
}

std::vector<Conversation> Api::Conversations() {
  const std::string what = "listing conversations";
  return Expect(protocol::ParseConversations(Call("GET", "/v1/conversations", std::nullopt, what)), what);
}

Conversation Api::CreateGroup(const std::string& title, const std::vector<std::string>& members) {
  const std::string what = "creating the group";
  return Expect(protocol::ParseConversation(
                    Call("POST", "/v1/conversations", protocol::CreateGroupBody(title, members), what)),
                what);
}

Conversation Api::OpenDm(const std::string& username) {
  const std::string what = "opening a DM with " + username;
  return Expect(protocol::ParseConversation(
                    Call("POST", "/v1/conversations/dm", protocol::UsernameBody(username), what)),
                what);
}

std::vector<Message> Api::Messages(ConversationId conv, std::optional<int64_t> after,
                                   std::optional<int64_t> before, int limit, const std::string& what) {
  std::string target = protocol::MessagesTarget(conv, after, before, limit);
  return Expect(protocol::ParseMessages(Call("GET", target, std::nullopt, what)), what);
}

protocol::MemberPage Api::Members(ConversationId conv, std::optional<UserId> after, int limit) {
  const std::string what = "listing members";
  return Expect(
      protocol::ParseMemberPage(Call("GET", protocol::MembersTarget(conv, after, limit), std::nullopt, what)),
      what);
}

SavedLogin Authenticate(const std::string& config_dir, const ServerUrl& url, const std::string& ca_file,
                        bool register_user, const std::string& username, const std::string& password,
                        const std::string& display_name) {
  client::HttpClient http(url.host, url.port, kHttpTimeout, TlsFor(url, ca_file));
  client::Response r = register_user
                           ? http.Request("POST", "/v1/auth/register",
                                          protocol::RegisterBody(username, password, display_name))
                           : http.Request("POST", "/v1/auth/login", protocol::LoginBody(username, password));
  int expected = register_user ? 201 : 200;
  if (r.status != expected) {
    if (r.status == 0) throw Unreachable(url.canonical, r.error);
    if (!register_user && r.status == 401) {
      throw CliError(kExitAuth, "login failed: wrong username or password");
    }
    if (register_user && r.status == 409) {
      throw CliError(kExitRejected,
                     "registration failed: the username '" + username + "' is taken (use 'parley login')");
    }
    if (r.status == 404 && !r.json.is_object()) {
      throw CliError(kExitUnreachable, url.canonical + " does not look like a Parley server (HTTP 404)");
    }
    ThrowForResponse(r, register_user ? "registration" : "login", url.canonical);
  }
  auto session = client::ParseSession(r);
  if (!session) {
    throw CliError(kExitUnreachable, url.canonical + " answered, but not like a Parley server");
  }
  SavedLogin c;
  c.server = url.canonical;
  if (url.tls && !ca_file.empty()) c.ca_file = std::filesystem::absolute(ca_file).string();
  ApplySession(c, *session);
  {
    LoginLock lock(config_dir);
    SaveLogin(config_dir, c);
  }
  return c;
}

}  // namespace parley::cli
