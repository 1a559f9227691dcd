// Server administration (PROTOCOL.md §7): the /v1/admin calls against a
// real parleyd whose admin.users names one account. Disabling reaches open
// sockets (4003) and refuses login and refresh; enabling lets the user in
// again; an administrator's delete is an entry like a member's, made by a
// non-member; the stats count what was made. (Everyone else's 403:
// authz_matrix_test. Across nodes: tests/cluster.)
#include <unistd.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

class AdminTest : public ServerTest {
 protected:
  // Fresh per process (ctest runs each test in its own): the account is
  // registered in SetUp, after the server starts with it listed.
  static std::string AdminName() { return "root" + std::to_string(getpid()); }

  std::vector<std::string> ExtraFlags() const override { return {"--admin.users", AdminName()}; }

  void SetUp() override {
    ServerTest::SetUp();
    if (HasFatalFailure()) return;
    auto s = client::Register(http(), AdminName(), kPassword);
    ASSERT_TRUE(s.ok()) << s.error().message;
    admin_ = *s;
  }

  client::Response AdminPost(const std::string& target) { return Post(target, {}, admin_.access_token); }

  // The users of one page of GET /v1/admin/users.
  json::object UsersPage(const std::string& query) {
    auto r = Get("/v1/admin/users" + query, admin_.access_token);
    EXPECT_EQ(r.status, 200) << r.Describe();
    return r.Object();
  }

  json::object Stats() {
    auto r = Get("/v1/admin/stats", admin_.access_token);
    EXPECT_EQ(r.status, 200) << r.Describe();
    return r.Object();
  }

  Session admin_;
};

TEST_F(AdminTest, ListsUsersByIdAPageAtATime) {
  Session a = NewUser("la"), b = NewUser("lb"), c = NewUser("lc");
  // Deleted users are not listed.
  Session gone = NewUser("lg");
  ASSERT_EQ(http()
                .Request("DELETE", "/v1/me", json::serialize(json::object{{"password", kPassword}}),
                         gone.access_token)
                .status,
            204);

  json::object first = UsersPage("?limit=2");
  const json::array& users = first.at("users").as_array();
  ASSERT_EQ(users.size(), 2u) << Dump(first);
  EXPECT_EQ(GetString(users[0], "id"), admin_.user_id);  // registered first
  EXPECT_EQ(GetString(users[1], "username"), a.username);
  for (const json::value& u : users) {
    EXPECT_TRUE(u.as_object().at("created_at").is_int64()) << Dump(u);
    EXPECT_EQ(u.as_object().at("disabled"), json::value(false)) << Dump(u);
    EXPECT_TRUE(u.as_object().contains("display_name")) << Dump(u);
  }
  ASSERT_TRUE(first.at("next").is_string()) << Dump(first);
  EXPECT_EQ(first.at("next").as_string(), users[1].as_object().at("id").as_string());

  json::object rest = UsersPage("?after=" + std::string(first.at("next").as_string()));
  std::vector<std::string> names;
  for (const json::value& u : rest.at("users").as_array()) names.push_back(GetString(u, "username"));
  EXPECT_EQ(names, (std::vector<std::string>{b.username, c.username})) << Dump(rest);
  EXPECT_TRUE(rest.at("next").is_null());
  EXPECT_EQ(UsersPage("?limit=5000").at("users").as_array().size(), 4u);  // capped at 1000, not refused

  EXPECT_TRUE(IsHttpError(Get("/v1/admin/users?limit=0", admin_.access_token), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(Get("/v1/admin/users?after=x", admin_.access_token), 400, "bad_request"));
}

TEST_F(AdminTest, DisableClosesSocketsAndRefusesLoginUntilEnabled) {
  Session user = NewUser("dis");
  Session other = NewUser("oth");
  auto ws = Open(user);
  auto other_ws = Open(other);
  ASSERT_TRUE(ws && other_ws);

  auto disabled = AdminPost("/v1/admin/users/" + user.username + "/disable");
  ASSERT_EQ(disabled.status, 204) << disabled.Describe();
  ASSERT_TRUE(ws->WaitClosed(3s)) << "the disabled user's socket stays open";
  EXPECT_EQ(ws->close_code(), kCloseBadToken);
  EXPECT_TRUE(other_ws->Request({{"type", "ping"}}).has_value()) << "another user's socket closed too";

  // Their tokens are dead, login and refresh are refused; the right
  // password learns of the disable, a wrong one only of a wrong password.
  EXPECT_TRUE(IsHttpError(Get("/v1/me", user.access_token), 401, "unauthorized"));
  auto login = http().Post("/v1/auth/login", {{"username", user.username}, {"password", kPassword}});
  ASSERT_TRUE(IsHttpError(login, 403, "forbidden"));
  EXPECT_EQ(GetString(login.Object().at("error"), "message"), "account disabled");
  EXPECT_TRUE(IsHttpError(
      http().Post("/v1/auth/login", {{"username", user.username}, {"password", "not-the-password"}}), 401,
      "unauthorized"));
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/refresh", {{"refresh_token", user.refresh_token}}), 401,
                          "unauthorized"));
  auto hello = RawSocket();
  ASSERT_TRUE(hello);
  (void)hello->Hello(user.access_token);
  ASSERT_TRUE(hello->WaitClosed(5s));
  EXPECT_EQ(hello->close_code(), kCloseBadToken);

  bool listed_disabled = false;
  const json::object listing = UsersPage("");
  for (const json::value& u : listing.at("users").as_array()) {
    if (GetString(u, "username") == user.username)
      listed_disabled = u.as_object().at("disabled") == json::value(true);
  }
  EXPECT_TRUE(listed_disabled);
  // Disabling again changes nothing more.
  EXPECT_EQ(AdminPost("/v1/admin/users/" + user.username + "/disable").status, 204);

  auto enabled = AdminPost("/v1/admin/users/" + user.username + "/enable");
  ASSERT_EQ(enabled.status, 204) << enabled.Describe();
  auto again = client::Login(http(), user.username, kPassword);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(Get("/v1/me", again->access_token).status, 200);
  auto again_ws = Open(*again);
  ASSERT_TRUE(again_ws);
  // Tokens revoked by the disable stay revoked.
  EXPECT_TRUE(IsHttpError(Get("/v1/me", user.access_token), 401, "unauthorized"));
}

TEST_F(AdminTest, DisableRefusesBadTargets) {
  EXPECT_TRUE(IsHttpError(AdminPost("/v1/admin/users/" + admin_.username + "/disable"), 400, "bad_request"));
  EXPECT_TRUE(IsHttpError(AdminPost("/v1/admin/users/nobody_" + std::to_string(getpid()) + "/disable"), 404,
                          "not_found"));
  EXPECT_TRUE(IsHttpError(AdminPost("/v1/admin/users/nobody_" + std::to_string(getpid()) + "/enable"), 404,
                          "not_found"));
  EXPECT_EQ(Get("/v1/me", admin_.access_token).status, 200);
}

TEST_F(AdminTest, DeleteMessageIsADeleteEntryByTheAdministrator) {
  Session owner = NewUser("own");
  Session member = NewUser("mem");
  std::string group = CreateGroup(owner, "moderated", {member.username});
  ASSERT_FALSE(group.empty());
  auto owner_ws = Open(owner);
  auto member_ws = Open(member);
  ASSERT_TRUE(owner_ws && member_ws);
  auto sent = SendMessage(*member_ws, group, "something unfit");
  ASSERT_TRUE(FieldIs(sent, "type", "sent")) << Dump(sent);
  const int64_t seq = GetInt(sent, "seq").value_or(0);
  owner_ws->ClearEvents();

  // The administrator is no member of the group.
  auto del = http().Request("DELETE", "/v1/admin/conversations/" + group + "/messages/" + std::to_string(seq),
                            std::nullopt, admin_.access_token);
  ASSERT_EQ(del.status, 204) << del.Describe();

  auto event = owner_ws->WaitFor(
      [&](const json::object& o) { return IsEvent("message", group)(o) && FieldIs(o, "kind", "delete"); },
      5s);
  ASSERT_TRUE(event) << "no delete entry reached the members";
  EXPECT_EQ(GetString(*event, "sender"), admin_.user_id);
  EXPECT_TRUE(event->at("client_msg_id").is_null()) << Dump(*event);
  EXPECT_EQ(GetInt(*event, "target"), seq);
  EXPECT_EQ(GetInt(*event, "seq"), seq + 1);

  json::array history = History(owner, group);
  ASSERT_EQ(history.size(), 2u) << Dump(history);
  EXPECT_EQ(history[0].as_object().at("deleted"), json::value(true));
  EXPECT_EQ(GetString(history[0], "body"), "");
  EXPECT_EQ(GetString(history[1], "kind"), "delete");
  EXPECT_EQ(GetString(history[1], "sender"), admin_.user_id);

  // A change entry, a seq past the end, a missing conversation: 404, and
  // no seq is used; deleting a deleted entry again is stored.
  const std::string base = "/v1/admin/conversations/" + group + "/messages/";
  EXPECT_TRUE(
      IsHttpError(http().Request("DELETE", base + std::to_string(seq + 1), std::nullopt, admin_.access_token),
                  404, "not_found"));
  EXPECT_TRUE(IsHttpError(http().Request("DELETE", base + "99", std::nullopt, admin_.access_token), 404,
                          "not_found"));
  EXPECT_TRUE(
      IsHttpError(http().Request("DELETE", base + "0", std::nullopt, admin_.access_token), 404, "not_found"));
  EXPECT_TRUE(IsHttpError(http().Request("DELETE", "/v1/admin/conversations/987654321/messages/1",
                                         std::nullopt, admin_.access_token),
                          404, "not_found"));
  EXPECT_EQ(History(owner, group).size(), 2u);
  EXPECT_EQ(http().Request("DELETE", base + std::to_string(seq), std::nullopt, admin_.access_token).status,
            204);
  EXPECT_EQ(History(owner, group).size(), 3u);
}

TEST_F(AdminTest, StatsCountUsersConversationsEntriesAndConnections) {
  json::object before = Stats();
  EXPECT_EQ(GetInt(before, "users"), 1);  // the administrator
  EXPECT_EQ(GetInt(before, "conversations"), 0);
  EXPECT_EQ(GetInt(before, "messages"), 0);
  EXPECT_EQ(GetInt(before, "connections"), 0);
  EXPECT_GE(GetInt(before, "uptime_s"), 0);

  Session a = NewUser("sa"), b = NewUser("sb");
  std::string dm = Dm(a, b.username);
  std::string group = CreateGroup(a, "counted", {b.username});
  ASSERT_FALSE(dm.empty() || group.empty());
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  for (const std::string& conv : {dm, group, group}) {
    ASSERT_TRUE(FieldIs(SendMessage(*ws, conv, "counted"), "type", "sent"));
  }
  json::object after = Stats();
  EXPECT_EQ(GetInt(after, "users"), 3);
  EXPECT_EQ(GetInt(after, "conversations"), 2);
  EXPECT_EQ(GetInt(after, "messages"), 3);
  EXPECT_EQ(GetInt(after, "connections"), 1);
}

TEST_F(AdminTest, OthersAreRefusedEvenWithAnAdministratorConfigured) {
  Session user = NewUser("nop");
  EXPECT_TRUE(IsHttpError(Get("/v1/admin/stats", user.access_token), 403, "forbidden"));
  EXPECT_TRUE(IsHttpError(Get("/v1/admin/users", user.access_token), 403, "forbidden"));
  EXPECT_TRUE(IsHttpError(Post("/v1/admin/users/" + admin_.username + "/disable", {}, user.access_token), 403,
                          "forbidden"));
  EXPECT_EQ(Get("/v1/me", admin_.access_token).status, 200);
}

TEST_F(AdminTest, OpenApiDescriptionIsServedWithoutAToken) {
  auto r = http().Get("/v1/openapi.json");
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(GetString(r.Object(), "openapi"), "3.1.0");
  EXPECT_TRUE(r.Object().at("paths").as_object().contains("/v1/admin/stats"));
}

}  // namespace
}  // namespace parley::testing
