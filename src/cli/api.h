#pragma once
// Api: authenticated HTTP calls for one saved login, with transparent token
// refresh, and the register/login calls that create that login. Bodies and
// answers are protocol/http_bodies.h's typed values. Every failure is
// thrown as a CliError with a message fit for the user; a token never
// appears in one. One thread at a time.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "cli/errors.h"
#include "cli/saved_login.h"
#include "cli/server_url.h"
#include "client/http_client.h"
#include "client/tls.h"
#include "common/ids.h"
#include "common/model.h"
#include "common/result.h"
#include "protocol/http_bodies.h"

namespace parley::cli {

// Wall-clock milliseconds since the Unix epoch.
int64_t NowMs();

// The server's error text from a response: "message (code)", or the status.
std::string ServerErrorText(const client::Response& r);

// Throws the CliError for a failed response. `what` says what was being done
// ("login", "history of 'proj'"); `server` names the server for transport errors.
[[noreturn]] void ThrowForResponse(const client::Response& r, const std::string& what,
                                   const std::string& server);

// A CliError for a server that cannot be reached. When the reason is an
// untrusted certificate, it says how to trust a private CA.
CliError Unreachable(const std::string& server, const std::string& detail);

// How to reach `url`: nullopt for http://; for https:// the system trust
// store plus `ca_file` when it is not empty. Throws CliError (kExitUsage)
// naming the file when it cannot be read or holds no certificate.
std::optional<client::TlsOptions> TlsFor(const ServerUrl& url, const std::string& ca_file);

// The value of a parsed answer, or a CliError (kExitRejected) saying that
// the answer to `what` is not what PROTOCOL.md promises.
template <class T>
T Expect(Result<T> parsed, const std::string& what) {
  if (!parsed) {
    throw CliError(kExitRejected,
                   what + ": the server's answer is not a Parley answer (" + parsed.error().message + ")");
  }
  return std::move(parsed).value();
}

class Api {
 public:
  // The saved login in `config_dir`; throws kExitAuth when there is none.
  // `ca_file` (--cacert or $PARLEY_CACERT) replaces the CA file saved with
  // the login when it is not empty.
  static Api FromConfigDir(const std::string& config_dir, const std::string& ca_file = "");

  Api(std::string config_dir, SavedLogin login, ServerUrl url, std::optional<client::TlsOptions> tls);

  // An authenticated call that must succeed (2xx): the parsed JSON body (null
  // for an empty one). On 401 the token is refreshed once and the call
  // repeated. Throws CliError otherwise.
  boost::json::value Call(const std::string& method, const std::string& target,
                          std::optional<std::string> body, const std::string& what);

  // ---- the calls the commands make, typed ----
  User Me();
  std::vector<Conversation> Conversations();
  Conversation CreateGroup(const std::string& title, const std::vector<std::string>& members);
  Conversation OpenDm(const std::string& username);
  // Messages of `conv` after/below the given seqs, ascending; `what` names
  // the command for errors.
  std::vector<Message> Messages(ConversationId conv, std::optional<int64_t> after,
                                std::optional<int64_t> before, int limit, const std::string& what);
  protocol::MemberPage Members(ConversationId conv, std::optional<UserId> after, int limit);
  // POST /v1/uploads (PROTOCOL.md §6): the file at `path`, named by its file
  // name, typed by its extension; returns the new upload's id.
  UploadId Upload(const std::string& path);
  // The bytes an upload's `url` serves; `what` names the command for errors.
  std::string Download(const std::string& url, const std::string& what);

  // An access token that has not expired, refreshing first when it has (or
  // when `force`). The rotated tokens are saved at once.
  std::string AccessToken(bool force = false);

  const SavedLogin& login() const { return login_; }
  // The logged-in user's id (invalid when the saved one is not an id).
  UserId me() const { return UserId::Parse(login_.user_id).value_or(UserId()); }
  const ServerUrl& url() const { return url_; }
  const std::optional<client::TlsOptions>& tls() const { return tls_; }
  const std::string& config_dir() const { return config_dir_; }
  client::HttpClient& http() { return http_; }

 private:
  void Refresh(const std::string& stale_token);
  // An authenticated request that must succeed (2xx), refreshed once on
  // 401, as Call; the whole answer.
  client::Response Authed(const std::string& method, const std::string& target,
                          std::optional<std::string> body, const std::string& what,
                          std::string_view content_type = "application/json");

  std::string config_dir_;
  SavedLogin login_;
  ServerUrl url_;
  std::optional<client::TlsOptions> tls_;
  client::HttpClient http_;
};

// POST /v1/auth/register or /v1/auth/login against `url` (over TLS with
// `ca_file` trusted, see TlsFor); on success saves the login, with the CA
// file's absolute path, in `config_dir` and returns it. Throws CliError.
SavedLogin Authenticate(const std::string& config_dir, const ServerUrl& url, const std::string& ca_file,
                        bool register_user, const std::string& username, const std::string& password,
                        const std::string& display_name);

}  // namespace parley::cli
