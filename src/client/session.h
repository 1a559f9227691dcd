#pragma once
// Session helpers: register, log in and refresh over HTTP, returning the
// tokens and the user. Plain functions over an HttpClient the caller owns.
#include <cstdint>
#include <string>

#include "client/http_client.h"
#include "common/model.h"
#include "common/result.h"

namespace parley::client {

// A Session answer (protocol::Session) with the user's id and name also as
// the strings the wire carries, which is how tests compare them with frames.
struct Session {
  std::string user_id;
  std::string username;
  std::string display_name;
  std::string access_token;
  std::string refresh_token;
  int64_t expires_in = 0;
  User user;  // the User the server sent
};

// Reads a Session answer; an error naming what is wrong when it is not one.
Result<Session> ParseSession(const Response& response);

// POST /v1/auth/register (201 expected). An empty display name is omitted.
Result<Session> Register(HttpClient& http, const std::string& username, const std::string& password,
                         const std::string& display_name = "");
// POST /v1/auth/login (200 expected).
Result<Session> Login(HttpClient& http, const std::string& username, const std::string& password);
// POST /v1/auth/refresh (200 expected).
Result<Session> Refresh(HttpClient& http, const std::string& refresh_token);

}  // namespace parley::client
