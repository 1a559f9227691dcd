#pragma once
// Api: authenticated HTTP calls for one saved login, with transparent token
// refresh, and the register/login calls that create that login. Every
// failure is thrown as a CliError with a message fit for the user; a token
// never appears in one.
#include <optional>
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "cli/config.h"
#include "cli/errors.h"
#include "cli/server_url.h"
#include "client/http_client.h"

namespace parley::cli {

// Wall-clock milliseconds since the Unix epoch.
int64_t NowMs();

// The server's error text from a response: "message (code)", or the status.
std::string ServerErrorText(const client::Response& r);

// Throws the CliError for a failed response. `what` says what was being done
// ("login", "history of 'proj'"); `server` names the server for transport errors.
[[noreturn]] void ThrowForResponse(const client::Response& r, const std::string& what,
                                   const std::string& server);

// A CliError for a server that cannot be reached.
CliError Unreachable(const std::string& server, const std::string& detail);

class Api {
 public:
  // The saved login in `config_dir`; throws kExitAuth when there is none.
  static Api FromConfigDir(const std::string& config_dir);

  Api(std::string config_dir, Config config, ServerUrl url);

  // An authenticated call that must succeed (2xx): the JSON body (an empty
  // object for an empty body). On 401 the token is refreshed once and the
  // call repeated. Throws CliError otherwise.
  boost::json::object Call(const std::string& method, const std::string& target,
                           std::optional<boost::json::object> body, const std::string& what);
  boost::json::object Get(const std::string& target, const std::string& what) {
    return Call("GET", target, std::nullopt, what);
  }
  boost::json::object Post(const std::string& target, boost::json::object body, const std::string& what) {
    return Call("POST", target, std::move(body), what);
  }

  // An access token that has not expired, refreshing first when it has (or
  // when `force`). The rotated tokens are saved at once.
  std::string AccessToken(bool force = false);

  const Config& config() const { return config_; }
  const ServerUrl& url() const { return url_; }
  const std::string& config_dir() const { return config_dir_; }
  client::HttpClient& http() { return http_; }

 private:
  void Refresh(const std::string& stale_token);

  std::string config_dir_;
  Config config_;
  ServerUrl url_;
  client::HttpClient http_;
};

// POST /v1/auth/register or /v1/auth/login against `url`; on success saves
// the login in `config_dir` and returns it. Throws CliError.
Config Authenticate(const std::string& config_dir, const ServerUrl& url, bool register_user,
                    const std::string& username, const std::string& password,
                    const std::string& display_name);

}  // namespace parley::cli
