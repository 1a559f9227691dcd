#pragma once
// Session helpers: register, log in and refresh over HTTP, returning the
// tokens and the user. Plain functions over an HttpClient the caller owns.
#include <cstdint>
#include <string>

#include <boost/json/object.hpp>

#include "client/http_client.h"
#include "common/result.h"

namespace parley::client {

struct Session {
  std::string user_id;
  std::string username;
  std::string display_name;
  std::string access_token;
  std::string refresh_token;
  int64_t expires_in = 0;
  boost::json::object user;  // the User object as the server sent it
};

// Reads a Session answer; an error when the shape is wrong.
Result<Session> ParseSession(const Response& response);

// POST /v1/auth/register (201 expected). An empty display name is omitted.
Result<Session> Register(HttpClient& http, const std::string& username, const std::string& password,
                         const std::string& display_name = "");
// POST /v1/auth/login (200 expected).
Result<Session> Login(HttpClient& http, const std::string& username, const std::string& password);
// POST /v1/auth/refresh (200 expected).
Result<Session> Refresh(HttpClient& http, const std::string& refresh_token);

}  // namespace parley::client
