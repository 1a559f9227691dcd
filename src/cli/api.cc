#include "cli/api.h"

#include <chrono>

#include <boost/json/serialize.hpp>

#include "cli/errors.h"
#include "client/json_util.h"
#include "client/session.h"

namespace parley::cli {

namespace json = boost::json;
using client::GetString;

namespace {

constexpr auto kHttpTimeout = std::chrono::seconds(10);
// Refresh this long before the access token's expiry, to allow for clock skew
// and the time the request takes.
constexpr int64_t kExpirySlackMs = 15'000;

void ApplySession(Config& c, const client::Session& s) {
  c.username = s.username;
  c.user_id = s.user_id;
  c.access_token = s.access_token;
  c.refresh_token = s.refresh_token;
  c.access_expires_at_ms = s.expires_in > 0 ? NowMs() + s.expires_in * 1000 : 0;
}

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ServerErrorText(const client::Response& r) {
  const json::object& obj = r.Object();
  auto it = obj.find("error");
  if (it != obj.end() && it->value().is_object()) {
    std::string message = GetString(it->value(), "message");
    std::string code = GetString(it->value(), "code");
    if (!message.empty()) return code.empty() ? message : message + " (" + code + ")";
    if (!code.empty()) return code;
  }
  return "HTTP " + std::to_string(r.status);
}

CliError Unreachable(const std::string& server, const std::string& detail) {
  return CliError(kExitUnreachable,
                  "cannot reach the server at " + server + (detail.empty() ? "" : ": " + detail));
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

Api Api::FromConfigDir(const std::string& config_dir) {
  if (config_dir.empty()) {
    throw CliError(kExitAuth, "not logged in (no config directory: set PARLEY_CONFIG_DIR or HOME)");
  }
  std::optional<Config> config = LoadConfig(config_dir);
  if (!config || !config->logged_in()) {
    throw CliError(kExitAuth, "not logged in; run 'parley login USERNAME --server URL' first");
  }
  std::string error;
  auto url = ParseServerUrl(config->server, &error);
  if (!url) throw CliError(kExitUnreachable, error + " (in " + ConfigPath(config_dir) + ")");
  return Api(config_dir, std::move(*config), std::move(*url));
}

Api::Api(std::string config_dir, Config config, ServerUrl url)
    : config_dir_(std::move(config_dir)),
      config_(std::move(config)),
      url_(std::move(url)),
      http_(url_.host, url_.port, kHttpTimeout) {}

std::string Api::AccessToken(bool force) {
  bool expired = config_.access_token.empty() || (config_.access_expires_at_ms > 0 &&
                                                  NowMs() + kExpirySlackMs >= config_.access_expires_at_ms);
  if (force || expired) Refresh(config_.access_token);
  return config_.access_token;
}

void Api::Refresh(const std::string& stale_token) {
  ConfigLock lock(config_dir_);
  // Another parley process may have refreshed meanwhile: the refresh token
  // rotates, so use what it saved rather than spend the old one again.
  if (auto saved = LoadConfig(config_dir_);
      saved && saved->logged_in() && saved->server == config_.server && saved->user_id == config_.user_id) {
    bool fresh = saved->access_expires_at_ms == 0 || NowMs() + kExpirySlackMs < saved->access_expires_at_ms;
    if (saved->access_token != stale_token && fresh) {
      config_ = std::move(*saved);
      return;
    }
    config_.refresh_token = saved->refresh_token;
  }
  client::Response r = http_.Post("/v1/auth/refresh", json::object{{"refresh_token", config_.refresh_token}});
  if (r.status == 401) {
    throw CliError(kExitAuth, "your login has expired; run 'parley login " + config_.username + " --server " +
                                  config_.server + "' again");
  }
  if (r.status != 200) ThrowForResponse(r, "refreshing the login", config_.server);
  auto session = client::ParseSession(r);
  if (!session) throw CliError(kExitRejected, "refreshing the login failed: unexpected answer");
  ApplySession(config_, *session);
  SaveConfig(config_dir_, config_);
}

json::object Api::Call(const std::string& method, const std::string& target, std::optional<json::object> body,
                       const std::string& what) {
  std::optional<std::string> text;
  if (body) text = json::serialize(*body);
  client::Response r = http_.Request(method, target, text, AccessToken());
  if (r.status == 401) {
    r = http_.Request(method, target, text, AccessToken(/*force=*/true));
    if (r.status == 401) {
      throw CliError(kExitAuth, "the server no longer accepts this login; run 'parley login' again");
    }
  }
  if (!r.ok()) ThrowForResponse(r, what, config_.server);
  if (r.json.is_object()) return r.json.as_object();
  return {};
}

Config Authenticate(const std::string& config_dir, const ServerUrl& url, bool register_user,
                    const std::string& username, const std::string& password,
                    const std::string& display_name) {
  client::HttpClient http(url.host, url.port, kHttpTimeout);
  json::object body{{"username", username}, {"password", password}};
  if (register_user && !display_name.empty()) body["display_name"] = display_name;
  client::Response r = http.Post(register_user ? "/v1/auth/register" : "/v1/auth/login", body);
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
  Config c;
  c.server = url.canonical;
  ApplySession(c, *session);
  {
    ConfigLock lock(config_dir);
    SaveConfig(config_dir, c);
  }
  return c;
}

}  // namespace parley::cli
