#include "client/session.h"

#include "client/json_util.h"

namespace parley::client {

namespace json = boost::json;

namespace {

Errc ErrcForStatus(int status) {
  switch (status) {
    case 400:
      return Errc::kBadRequest;
    case 401:
      return Errc::kUnauthorized;
    case 403:
      return Errc::kForbidden;
    case 404:
      return Errc::kNotFound;
    case 409:
      return Errc::kConflict;
    case 413:
      return Errc::kTooLarge;
    case 429:
      return Errc::kRateLimited;
    case 0:
    case 503:
      return Errc::kUnavailable;
    default:
      return Errc::kInternal;
  }
}

Result<Session> Expect(const Response& response, int status) {
  if (response.status != status) {
    return MakeError(ErrcForStatus(response.status),
                     "expected " + std::to_string(status) + ", got " + response.Describe());
  }
  return ParseSession(response);
}

}  // namespace

Result<Session> ParseSession(const Response& response) {
  if (!response.json.is_object()) return MakeError(Errc::kInternal, "not a JSON object: " + response.body);
  const json::object& obj = response.json.as_object();
  auto user = obj.find("user");
  if (user == obj.end() || !user->value().is_object()) {
    return MakeError(Errc::kInternal, "Session without user: " + response.body);
  }
  Session s;
  s.user = user->value().as_object();
  s.user_id = GetString(s.user, "id");
  s.username = GetString(s.user, "username");
  s.display_name = GetString(s.user, "display_name");
  s.access_token = GetString(obj, "access_token");
  s.refresh_token = GetString(obj, "refresh_token");
  s.expires_in = GetInt(obj, "expires_in").value_or(0);
  if (s.user_id.empty() || s.access_token.empty() || s.refresh_token.empty()) {
    return MakeError(Errc::kInternal, "incomplete Session: " + response.body);
  }
  return s;
}

Result<Session> Register(HttpClient& http, const std::string& username, const std::string& password,
                         const std::string& display_name) {
  json::object body{{"username", username}, {"password", password}};
  if (!display_name.empty()) body["display_name"] = display_name;
  return Expect(http.Post("/v1/auth/register", body), 201);
}

Result<Session> Login(HttpClient& http, const std::string& username, const std::string& password) {
  return Expect(http.Post("/v1/auth/login", {{"username", username}, {"password", password}}), 200);
}

Result<Session> Refresh(HttpClient& http, const std::string& refresh_token) {
  return Expect(http.Post("/v1/auth/refresh", {{"refresh_token", refresh_token}}), 200);
}

}  // namespace parley::client
