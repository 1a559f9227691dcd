#include "client/session.h"

#include "protocol/http_bodies.h"

namespace parley::client {

namespace {

Result<Session> Expect(const Response& response, int status) {
  if (response.status != status) {
    return MakeError(response.ErrorCode(),
                     "expected " + std::to_string(status) + ", got " + response.Describe());
  }
  return ParseSession(response);
}

}  // namespace

Result<Session> ParseSession(const Response& response) {
  auto parsed = protocol::ParseSession(response.json);
  if (!parsed) {
    return MakeError(Errc::kInternal, "not a Session (" + parsed.error().message + "): " + response.body);
  }
  protocol::Session& s = *parsed;
  return Session{s.user.id.ToString(),       s.user.username, s.user.display_name, std::move(s.access_token),
                 std::move(s.refresh_token), s.expires_in,    std::move(s.user)};
}

Result<Session> Register(HttpClient& http, const std::string& username, const std::string& password,
                         const std::string& display_name) {
  return Expect(
      http.Request("POST", "/v1/auth/register", protocol::RegisterBody(username, password, display_name)),
      201);
}

Result<Session> Login(HttpClient& http, const std::string& username, const std::string& password) {
  return Expect(http.Request("POST", "/v1/auth/login", protocol::LoginBody(username, password)), 200);
}

Result<Session> Refresh(HttpClient& http, const std::string& refresh_token) {
  return Expect(http.Request("POST", "/v1/auth/refresh", protocol::RefreshBody(refresh_token)), 200);
}

}  // namespace parley::client
