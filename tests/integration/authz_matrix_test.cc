// The authorization matrix: every HTTP call of PROTOCOL.md section 1 (and
// the additions of docs/protocol.md) and every WebSocket request of section
// 2, against every kind of caller that must be refused or limited: no
// token, a malformed one, a bad signature, an expired token (minted with the
// server's own secret and a past clock), a refresh token used as an access
// token, and valid tokens of a non-member, a removed member and a member
// without the role. Each cell asserts the exact answer and that the answer
// leaks nothing: no other user's data (message bodies, the group's title,
// its members' usernames) and no internals (paths, SQL, stack traces).
#include <fstream>
#include <functional>
#include <sstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "auth/auth.h"
#include "common/clock.h"
#include "server_fixture.h"

namespace parley::testing {
namespace {

// The columns of the matrix.
enum class Caller {
  kNone,
  kMalformed,
  kBadSignature,
  kExpired,
  kRefreshToken,
  kNonMember,
  kRemoved,
  kNoRole
};

const char* Name(Caller c) {
  switch (c) {
    case Caller::kNone:
      return "no token";
    case Caller::kMalformed:
      return "malformed token";
    case Caller::kBadSignature:
      return "bad signature";
    case Caller::kExpired:
      return "expired token";
    case Caller::kRefreshToken:
      return "refresh token as access token";
    case Caller::kNonMember:
      return "non-member";
    case Caller::kRemoved:
      return "removed member";
    case Caller::kNoRole:
      return "member without the role";
  }
  return "?";
}

constexpr Caller kAllCallers[] = {Caller::kNone,    Caller::kMalformed,    Caller::kBadSignature,
                                  Caller::kExpired, Caller::kRefreshToken, Caller::kNonMember,
                                  Caller::kRemoved, Caller::kNoRole};

bool HasValidToken(Caller c) {
  return c == Caller::kNonMember || c == Caller::kRemoved || c == Caller::kNoRole;
}

// What must never appear in an answer that is not about the caller's own
// data: internals.
constexpr const char* kInternals[] = {"/tmp",   "parley-it", ".cc",     "sqlite",    "SELECT",
                                      "INSERT", "postgres",  "std::",   "terminate", "exception",
                                      "stack",  "Traceback", "\\n  at "};

class AuthzMatrixTest : public ServerTest {
 protected:
  // Wrong passwords are part of the matrix: keep the throttle out of it
  // (auth_abuse_test covers it).
  std::vector<std::string> ExtraFlags() const override {
    return {"--auth.login_max_failures_per_address", "0", "--auth.login_max_failures_per_account", "0"};
  }

  void SetUp() override {
    ServerTest::SetUp();
    if (HasFatalFailure()) return;
    owner_ = NewUser("own");
    admin_ = NewUser("adm");
    plain_ = NewUser("pla");
    victim_ = NewUser("vic");  // a member the no-role caller tries to remove
    outsider_ = NewUser("out");
    removed_ = NewUser("rem");
    ASSERT_FALSE(owner_.access_token.empty() || outsider_.access_token.empty());
    group_ =
        CreateGroup(owner_, title_, {admin_.username, plain_.username, victim_.username, removed_.username});
    ASSERT_FALSE(group_.empty());
    {
      auto ws = Open(owner_);
      ASSERT_TRUE(ws);
      auto sent = SendMessage(*ws, group_, secret_body_);
      ASSERT_TRUE(FieldIs(sent, "type", "sent")) << Dump(sent);
    }
    auto removed =
        Delete("/v1/conversations/" + group_ + "/members/" + removed_.username, owner_.access_token);
    ASSERT_EQ(removed.status, 204) << removed.Describe();

    // Tokens that must all be refused.
    std::ifstream in(server().data_dir() + "/jwt.secret");
    std::string secret;
    std::getline(in, secret);
    ASSERT_GE(secret.size(), 32u) << "the fixture's server keeps its secret in data_dir/jwt.secret";
    ManualClock past(SystemClock::Instance().NowMs() - 3'600'000);
    auth::TokenIssuer old_issuer(secret, 60, past);
    expired_ = old_issuer.Issue(UserId::Parse(outsider_.user_id).value(), outsider_.username);
    bad_signature_ = outsider_.access_token;
    char& last = bad_signature_[bad_signature_.size() - 5];
    last = last == 'A' ? 'B' : 'A';
    auth::TokenIssuer other_secret(std::string(64, 'x'), 900, SystemClock::Instance());
    forged_ = other_secret.Issue(UserId::Parse(owner_.user_id).value(), owner_.username);
  }

  std::optional<std::string> TokenOf(Caller c) const {
    switch (c) {
      case Caller::kNone:
        return std::nullopt;
      case Caller::kMalformed:
        return std::string("not-a.jwt");
      case Caller::kBadSignature:
        return bad_signature_;
      case Caller::kExpired:
        return expired_;
      case Caller::kRefreshToken:
        return outsider_.refresh_token;
      case Caller::kNonMember:
        return outsider_.access_token;
      case Caller::kRemoved:
        return removed_.access_token;
      case Caller::kNoRole:
        return plain_.access_token;
    }
    return std::nullopt;
  }

  // Asserts that `text` (an answer to `caller`) names none of the group's
  // private data (unless `own_data_ok`: the caller asked about something it
  // may see) and no internals.
  void ExpectNoLeak(const std::string& text, const std::string& cell, bool group_data_ok = false) {
    for (const char* bad : kInternals) EXPECT_EQ(text.find(bad), std::string::npos) << cell << ": " << text;
    if (group_data_ok) return;
    EXPECT_EQ(text.find(secret_body_), std::string::npos) << cell << " leaks a message body: " << text;
    EXPECT_EQ(text.find(title_), std::string::npos) << cell << " leaks the title: " << text;
    for (const Session* s : {&owner_, &admin_, &victim_}) {
      EXPECT_EQ(text.find(s->username), std::string::npos) << cell << " leaks a member's name: " << text;
    }
  }

  // An error answer is exactly {"error":{"code","message"}} (plus
  // retry_after_ms for rate_limited).
  void ExpectErrorShape(const client::Response& r, const std::string& cell) {
    const json::object& o = r.Object();
    ASSERT_EQ(o.size(), 1u) << cell << ": " << r.Describe();
    ASSERT_TRUE(o.contains("error") && o.at("error").is_object()) << cell << ": " << r.Describe();
    for (const auto& kv : o.at("error").as_object()) {
      EXPECT_TRUE(kv.key() == "code" || kv.key() == "message") << cell << ": extra field " << kv.key();
    }
  }

  Session owner_, admin_, plain_, victim_, outsider_, removed_;
  std::string group_;
  const std::string title_ = "Quarterly-Plans-" + std::to_string(getpid());
  const std::string secret_body_ = "the launch code is " + std::to_string(getpid() * 7919);
  std::string expired_, bad_signature_, forged_;
};

// One row: an HTTP call, and per caller the status it must answer (and the
// error code when it is an error).
struct HttpRow {
  std::string name;
  std::function<client::Response(client::HttpClient&, const std::optional<std::string>&)> call;
  // Expected status for a caller with a valid token; callers without one get
  // 401 unauthorized on every authenticated call.
  std::function<int(Caller)> status;
  // Whether a 2xx answer to this caller may hold the group's data.
  bool group_data_ok_for_members = false;
};

std::string CodeOf(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 429:
      return "rate_limited";
  }
  return "";
}

TEST_F(AuthzMatrixTest, EveryHttpCallAgainstEveryCaller) {
  const std::string conv = "/v1/conversations/" + group_;
  const std::string missing = "/v1/conversations/987654321";
  auto post = [](std::string target, json::object body) {
    return [target, body](client::HttpClient& h, const std::optional<std::string>& t) {
      return h.Request("POST", target, json::serialize(body), t);
    };
  };
  auto get = [](std::string target) {
    return [target](client::HttpClient& h, const std::optional<std::string>& t) { return h.Get(target, t); };
  };
  auto del = [](std::string target, std::optional<json::object> body = std::nullopt) {
    return [target, body](client::HttpClient& h, const std::optional<std::string>& t) {
      return h.Request("DELETE", target, body ? std::optional(json::serialize(*body)) : std::nullopt, t);
    };
  };
  auto members_only = [](int ok) { return [ok](Caller c) { return c == Caller::kNoRole ? ok : 403; }; };
  auto managers_only = [](Caller) { return 403; };
  auto anyone = [](int ok) { return [ok](Caller) { return ok; }; };

  // §8: a bot of the owner's, which no caller of the matrix may delete.
  const std::string owners_bot = "authz_bot_" + std::to_string(getpid());
  ASSERT_EQ(Post("/v1/bots", {{"username", owners_bot}}, owner_.access_token).status, 201);

  std::vector<HttpRow> rows = {
      {"GET /v1/me", get("/v1/me"), anyone(200)},
      {"GET /v1/users/{username}", get("/v1/users/" + outsider_.username), anyone(200)},
      {"GET /v1/users/{unknown}", get("/v1/users/nobody_" + std::to_string(getpid())), anyone(404)},
      {"GET /v1/conversations", get("/v1/conversations"), anyone(200), true},
      {"POST /v1/conversations",
       post("/v1/conversations", {{"kind", "group"}, {"title", "mine"}, {"members", json::array{}}}),
       anyone(201)},
      {"POST /v1/conversations/dm", post("/v1/conversations/dm", {{"username", outsider_.username}}),
       [](Caller c) { return c == Caller::kNonMember ? 400 : 200; }},
      {"POST /v1/conversations/{id}/members", post(conv + "/members", {{"username", outsider_.username}}),
       managers_only},
      {"DELETE /v1/conversations/{id}/members/{username}", del(conv + "/members/" + victim_.username),
       managers_only},
      {"GET /v1/conversations/{id}/messages", get(conv + "/messages"), members_only(200), true},
      {"GET /v1/conversations/{id}/members", get(conv + "/members"), members_only(200), true},
      {"GET /v1/conversations/{missing}/messages", get(missing + "/messages"), anyone(404)},
      {"GET /v1/conversations/{missing}/members", get(missing + "/members"), anyone(404)},
      {"POST /v1/conversations/{missing}/members",
       post(missing + "/members", {{"username", outsider_.username}}), anyone(404)},
      {"DELETE /v1/conversations/{missing}/members/{username}", del(missing + "/members/" + victim_.username),
       anyone(404)},
      // Additions: both need the caller's own password; a wrong one is 403.
      {"POST /v1/auth/password (wrong old password)",
       post("/v1/auth/password", {{"old_password", "not-the-password"}, {"new_password", "another-pass-1"}}),
       anyone(403)},
      {"DELETE /v1/me (wrong password)", del("/v1/me", json::object{{"password", "not-the-password"}}),
       anyone(403)},
      // 1.1 §7: invites (owner and admins) and blocks (one's own).
      {"POST /v1/conversations/{id}/invites", post(conv + "/invites", {{"max_uses", 1}}), managers_only},
      {"DELETE /v1/conversations/{id}/invites/{code}", del(conv + "/invites/some-code"), managers_only},
      {"POST /v1/conversations/{missing}/invites", post(missing + "/invites", {}), anyone(404)},
      {"POST /v1/invites/{unknown}/join", post("/v1/invites/no-such-code/join", {}), anyone(404)},
      {"PUT /v1/blocks/{username}",
       [&](client::HttpClient& h, const std::optional<std::string>& t) {
         return h.Request("PUT", "/v1/blocks/" + outsider_.username, std::nullopt, t);
       },
       [](Caller c) { return c == Caller::kNonMember ? 400 : 204; }},  // the outsider blocking themselves
      {"PUT /v1/blocks/{unknown}",
       [&](client::HttpClient& h, const std::optional<std::string>& t) {
         return h.Request("PUT", "/v1/blocks/nobody_" + std::to_string(getpid()), std::nullopt, t);
       },
       anyone(404)},
      {"GET /v1/blocks", get("/v1/blocks"), anyone(200)},
      {"DELETE /v1/blocks/{username}", del("/v1/blocks/" + outsider_.username), anyone(204)},
      // 1.1 §8: sending over HTTP, as a member's `send`.
      {"POST /v1/conversations/{id}/messages",
       post(conv + "/messages", {{"client_msg_id", "authz-http-send"}, {"body", "over http"}}),
       members_only(201)},
      {"POST /v1/conversations/{missing}/messages",
       post(missing + "/messages", {{"client_msg_id", "authz-http-missing"}, {"body", "x"}}), anyone(404)},
      // 1.1 §8: bots, one's own.
      {"GET /v1/bots", get("/v1/bots"), anyone(200)},
      {"POST /v1/bots (bad username)", post("/v1/bots", {{"username", "no spaces"}}), anyone(400)},
      {"DELETE /v1/bots/{someone else's}", del("/v1/bots/" + owners_bot), anyone(403)},
      {"DELETE /v1/bots/{unknown}", del("/v1/bots/nobody_" + std::to_string(getpid())), anyone(404)},
      // PROTOCOL.md §7: a display name of 1 to 64 bytes; refused, nothing changes.
      {"PATCH /v1/me (empty display name)",
       [](client::HttpClient& h, const std::optional<std::string>& t) {
         return h.Request("PATCH", "/v1/me", json::serialize(json::object{{"display_name", ""}}), t);
       },
       anyone(400)},
      // PROTOCOL.md §7: server administration. Nobody here is in
      // admin.users, so every valid caller is refused, before the call
      // looks at its parameters (a bad limit or seq is 403 too).
      {"GET /v1/admin/users", get("/v1/admin/users"), anyone(403)},
      {"GET /v1/admin/users (bad limit)", get("/v1/admin/users?limit=0"), anyone(403)},
      {"POST /v1/admin/users/{username}/disable",
       post("/v1/admin/users/" + victim_.username + "/disable", {}), anyone(403)},
      {"POST /v1/admin/users/{username}/enable", post("/v1/admin/users/" + victim_.username + "/enable", {}),
       anyone(403)},
      {"DELETE /v1/admin/conversations/{id}/messages/{seq}",
       del("/v1/admin/conversations/" + group_ + "/messages/1"), anyone(403)},
      {"DELETE /v1/admin/conversations/{missing}/messages/{bad seq}",
       del("/v1/admin/conversations/987654321/messages/x"), anyone(403)},
      {"GET /v1/admin/stats", get("/v1/admin/stats"), anyone(403)},
  };

  int cells = 0;
  for (const HttpRow& row : rows) {
    for (Caller caller : kAllCallers) {
      const std::string cell = row.name + " / " + Name(caller);
      client::HttpClient http(server().host(), server().port());
      client::Response r = row.call(http, TokenOf(caller));
      const int expected = HasValidToken(caller) ? row.status(caller) : 401;
      ++cells;
      EXPECT_EQ(r.status, expected) << cell << ": " << r.Describe();
      if (expected >= 400) {
        ExpectErrorShape(r, cell);
        EXPECT_TRUE(IsHttpError(r, expected, CodeOf(expected))) << cell;
      }
      bool may_see_group = row.group_data_ok_for_members && caller == Caller::kNoRole && expected < 400;
      ExpectNoLeak(r.body, cell, may_see_group);
    }
  }
  EXPECT_EQ(cells, static_cast<int>(rows.size() * std::size(kAllCallers)));

  // A token signed with another secret, naming the owner, is refused
  // everywhere (the owner's data above all).
  for (const HttpRow& row : rows) {
    client::HttpClient http(server().host(), server().port());
    client::Response r = row.call(http, forged_);
    EXPECT_EQ(r.status, 401) << row.name << " / forged owner token: " << r.Describe();
    ExpectNoLeak(r.body, row.name + " / forged");
  }
  // Nothing the refused callers did changed the group.
  auto members = Get(conv + "/members", owner_.access_token);
  ASSERT_EQ(members.status, 200) << members.Describe();
  EXPECT_NE(members.body.find(victim_.username), std::string::npos) << "the victim is still a member";
  // The message, and the plain member's HTTP send (§8): nothing else.
  auto history = History(owner_, group_);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_FALSE(history[0].at("deleted").as_bool()) << "nobody deleted the message";
  EXPECT_TRUE(Open(victim_)) << "nobody disabled the victim";
  EXPECT_EQ(members.body.find(outsider_.username), std::string::npos) << "nobody added the outsider";
}

TEST_F(AuthzMatrixTest, TheRemovedMembersListNoLongerShowsTheGroup) {
  auto r = Get("/v1/conversations", removed_.access_token);
  ASSERT_EQ(r.status, 200) << r.Describe();
  ExpectNoLeak(r.body, "GET /v1/conversations / removed member");
  auto o = Get("/v1/conversations", outsider_.access_token);
  ASSERT_EQ(o.status, 200) << o.Describe();
  ExpectNoLeak(o.body, "GET /v1/conversations / non-member");
}

TEST_F(AuthzMatrixTest, UnauthenticatedCallsIgnoreWhateverTokenIsSent) {
  // register, login, refresh and logout take no token: a bad one changes
  // nothing, and a refresh token is only good in the body of refresh.
  for (Caller caller : kAllCallers) {
    const std::string cell = std::string("auth calls / ") + Name(caller);
    auto token = TokenOf(caller);
    auto login = http().Request(
        "POST", "/v1/auth/login",
        json::serialize(json::object{{"username", owner_.username}, {"password", "wrong-one-1"}}), token);
    EXPECT_EQ(login.status, 401) << cell << ": " << login.Describe();
    ExpectErrorShape(login, cell);
    ExpectNoLeak(login.body, cell);
    auto refresh =
        http().Request("POST", "/v1/auth/refresh",
                       json::serialize(json::object{{"refresh_token", "not-a-refresh-token"}}), token);
    EXPECT_EQ(refresh.status, 401) << cell << ": " << refresh.Describe();
    ExpectNoLeak(refresh.body, cell);
    auto logout =
        http().Request("POST", "/v1/auth/logout",
                       json::serialize(json::object{{"refresh_token", "not-a-refresh-token"}}), token);
    EXPECT_EQ(logout.status, 204) << cell << ": " << logout.Describe();
    auto taken = http().Request(
        "POST", "/v1/auth/register",
        json::serialize(json::object{{"username", owner_.username}, {"password", "whatever-1"}}), token);
    EXPECT_EQ(taken.status, 409) << cell << ": " << taken.Describe();
    ExpectNoLeak(taken.body, cell, /*group_data_ok=*/true);  // the name was given by the caller
  }
  // An access token is not a refresh token.
  auto r = http().Post("/v1/auth/refresh", {{"refresh_token", outsider_.access_token}});
  EXPECT_EQ(r.status, 401) << r.Describe();
  for (const char* path : {"/healthz", "/readyz", "/v1/openapi.json"}) {
    auto h = http().Get(path, std::string("garbage"));
    EXPECT_EQ(h.status, 200) << path << ": " << h.Describe();
  }
}

// --- WebSocket -------------------------------------------------------------------

TEST_F(AuthzMatrixTest, HelloWithEveryBadTokenClosesWith4003) {
  for (Caller caller : {Caller::kMalformed, Caller::kBadSignature, Caller::kExpired, Caller::kRefreshToken}) {
    auto ws = RawSocket();
    ASSERT_TRUE(ws);
    auto answer = ws->Hello(*TokenOf(caller));
    EXPECT_FALSE(answer.has_value() && FieldIs(*answer, "type", "welcome"))
        << Name(caller) << ": " << Dump(answer);
    ASSERT_TRUE(ws->WaitClosed(5s)) << Name(caller);
    EXPECT_EQ(ws->close_code(), kCloseBadToken) << Name(caller) << ": " << ws->close_reason();
    ExpectNoLeak(ws->close_reason(), Name(caller));
  }
  {
    auto ws = RawSocket();
    ASSERT_TRUE(ws);
    (void)ws->Hello(forged_);
    ASSERT_TRUE(ws->WaitClosed(5s));
    EXPECT_EQ(ws->close_code(), kCloseBadToken) << "forged owner token: " << ws->close_reason();
  }
  {
    // No token at all: a hello without one is not a hello.
    auto ws = RawSocket();
    ASSERT_TRUE(ws);
    ASSERT_TRUE(ws->SendJson({{"id", 1}, {"type", "hello"}}));
    ASSERT_TRUE(ws->WaitClosed(5s));
    EXPECT_EQ(ws->close_code(), kCloseNoHello) << ws->close_reason();
  }
  {
    // A request without hello first.
    auto ws = RawSocket();
    ASSERT_TRUE(ws);
    ASSERT_TRUE(ws->SendJson({{"id", 1}, {"type", "history"}, {"conv", group_}}));
    ASSERT_TRUE(ws->WaitClosed(5s));
    EXPECT_EQ(ws->close_code(), kCloseNoHello) << ws->close_reason();
    for (const auto& e : ws->Drain(100ms)) ExpectNoLeak(Dump(e), "request before hello");
  }
}

TEST_F(AuthzMatrixTest, EveryWebSocketRequestAgainstEveryValidCaller) {
  struct WsRow {
    std::string name;
    std::function<json::object()> frame;
    // Expected answer type ("error:<code>", "sent", "history", "ok",
    // "conversation", "presence", "pong", or "" for no answer) per caller.
    std::function<std::string(Caller)> answer;
    bool group_data_ok_for_members = false;
  };
  static int cmid = 0;
  auto members_only = [](std::string ok) {
    return [ok](Caller c) { return c == Caller::kNoRole ? ok : std::string("error:forbidden"); };
  };
  auto anyone = [](std::string ok) { return [ok](Caller) { return ok; }; };
  const std::string missing = "987654321";
  std::vector<WsRow> rows = {
      {"send",
       [&] {
         return json::object{{"type", "send"},
                             {"conv", group_},
                             {"client_msg_id", "az-" + std::to_string(++cmid)},
                             {"body", "hello"}};
       },
       members_only("sent")},
      {"send (missing conversation)",
       [&] {
         return json::object{{"type", "send"},
                             {"conv", missing},
                             {"client_msg_id", "az-" + std::to_string(++cmid)},
                             {"body", "hello"}};
       },
       anyone("error:not_found")},
      {"history",
       [&] {
         return json::object{{"type", "history"}, {"conv", group_}};
       },
       members_only("history"), true},
      {"history (missing conversation)",
       [&] {
         return json::object{{"type", "history"}, {"conv", missing}};
       },
       anyone("error:not_found")},
      {"read",
       [&] {
         return json::object{{"type", "read"}, {"conv", group_}, {"seq", 1}};
       },
       members_only("ok")},
      {"read (missing conversation)",
       [&] {
         return json::object{{"type", "read"}, {"conv", missing}, {"seq", 1}};
       },
       anyone("error:not_found")},
      {"typing",
       [&] {
         return json::object{{"type", "typing"}, {"conv", group_}};
       },
       members_only("")},
      {"typing (missing conversation)",
       [&] {
         return json::object{{"type", "typing"}, {"conv", missing}};
       },
       anyone("error:not_found")},
      {"create_group",
       [&] {
         return json::object{{"type", "create_group"}, {"title", "mine"}, {"members", json::array{}}};
       },
       anyone("conversation")},
      {"dm",
       [&] {
         return json::object{{"type", "dm"}, {"username", owner_.username}};
       },
       anyone("conversation"), true},
      {"add_member",
       [&] {
         return json::object{{"type", "add_member"}, {"conv", group_}, {"username", outsider_.username}};
       },
       anyone("error:forbidden")},
      {"remove_member",
       [&] {
         return json::object{{"type", "remove_member"}, {"conv", group_}, {"username", victim_.username}};
       },
       anyone("error:forbidden")},
      {"add_member (missing conversation)",
       [&] {
         return json::object{{"type", "add_member"}, {"conv", missing}, {"username", outsider_.username}};
       },
       anyone("error:not_found")},
      {"presence",
       [&] {
         return json::object{{"type", "presence"}, {"users", json::array{outsider_.user_id}}};
       },
       anyone("presence")},
      {"ping",
       [] {
         return json::object{{"type", "ping"}};
       },
       anyone("pong")},
      {"leave (missing conversation)",
       [&] {
         return json::object{{"type", "leave"}, {"conv", missing}};
       },
       anyone("error:not_found")},
      // 1.1 §7: running a group needs the owner (or an admin).
      {"set_role",
       [&] {
         return json::object{
             {"type", "set_role"}, {"conv", group_}, {"username", victim_.username}, {"role", "admin"}};
       },
       anyone("error:forbidden")},
      {"transfer",
       [&] {
         return json::object{{"type", "transfer"}, {"conv", group_}, {"username", victim_.username}};
       },
       anyone("error:forbidden")},
      {"ban",
       [&] {
         return json::object{{"type", "ban"}, {"conv", group_}, {"username", victim_.username}};
       },
       anyone("error:forbidden")},
      {"unban",
       [&] {
         return json::object{{"type", "unban"}, {"conv", group_}, {"username", victim_.username}};
       },
       anyone("error:forbidden")},
      {"update_group",
       [&] {
         return json::object{{"type", "update_group"}, {"conv", group_}, {"title", "taken over"}};
       },
       anyone("error:forbidden")},
      {"ban (missing conversation)",
       [&] {
         return json::object{{"type", "ban"}, {"conv", missing}, {"username", victim_.username}};
       },
       anyone("error:not_found")},
      // Last: it changes the member's standing.
      {"leave",
       [&] {
         return json::object{{"type", "leave"}, {"conv", group_}};
       },
       members_only("ok")},
  };

  int cells = 0;
  for (Caller caller : {Caller::kNonMember, Caller::kRemoved, Caller::kNoRole}) {
    auto ws = RawSocket();
    ASSERT_TRUE(ws);
    auto welcome = ws->Hello(*TokenOf(caller));
    ASSERT_TRUE(welcome && FieldIs(*welcome, "type", "welcome")) << Name(caller) << ": " << Dump(welcome);
    if (caller != Caller::kNoRole) ExpectNoLeak(Dump(*welcome), std::string("welcome / ") + Name(caller));
    ws->Drain(200ms);
    for (const WsRow& row : rows) {
      const std::string cell = row.name + " / " + Name(caller);
      const std::string expected = row.answer(caller);
      ++cells;
      if (expected.empty()) {
        // No answer is the right answer; a ping right after proves none came.
        ASSERT_TRUE(ws->SendJson(row.frame()));
        auto pong = ws->Request({{"type", "ping"}});
        ASSERT_TRUE(pong) << cell;
        EXPECT_TRUE(FieldIs(*pong, "type", "pong")) << cell << ": " << Dump(pong);
        for (const auto& e : ws->Drain(100ms)) {
          EXPECT_FALSE(FieldIs(e, "type", "error")) << cell << ": " << Dump(e);
        }
        continue;
      }
      json::object frame = row.frame();
      auto answer = ws->Request(frame);
      ASSERT_TRUE(answer) << cell << ": no answer, " << ws->last_error();
      const std::string text = Dump(answer);
      if (expected.rfind("error:", 0) == 0) {
        EXPECT_TRUE(IsWsError(answer, expected.substr(6))) << cell << ": " << text;
        ExpectNoLeak(text, cell);
      } else {
        EXPECT_TRUE(FieldIs(*answer, "type", expected)) << cell << ": " << text;
        bool may_see_group = row.group_data_ok_for_members && caller == Caller::kNoRole;
        if (row.name == "dm") may_see_group = true;  // the DM names the peer the caller asked for
        ExpectNoLeak(text, cell, may_see_group);
      }
      // Events pushed meanwhile must not carry the group's data to a
      // non-member either.
      if (caller != Caller::kNoRole) {
        for (const auto& e : ws->Drain(50ms)) {
          if (FieldIs(e, "type", "conversation") || FieldIs(e, "type", "member"))
            continue;  // their own group/DM
          ExpectNoLeak(Dump(e), cell + " (event)");
        }
      }
    }
    EXPECT_TRUE(ws->is_open()) << Name(caller) << ": refused requests never close the connection";
  }
  EXPECT_EQ(cells, static_cast<int>(3 * rows.size()));

  // The refused requests changed nothing: the victim is still a member, the
  // outsider was not added, and nobody outside read or wrote the group.
  auto members = Get("/v1/conversations/" + group_ + "/members", owner_.access_token);
  ASSERT_EQ(members.status, 200) << members.Describe();
  EXPECT_NE(members.body.find(victim_.username), std::string::npos);
  EXPECT_EQ(members.body.find(outsider_.username), std::string::npos);
  auto history = History(owner_, group_);
  ASSERT_EQ(history.size(), 2u) << "the owner's message and the plain member's one";
}

}  // namespace
}  // namespace parley::testing
