// Revocation reaches open connections (PROTOCOL.md §7): a password change,
// a logout everywhere and an account deletion close every WebSocket opened
// with a revoked token with 4003 at once, without waiting for the socket's
// next request; a socket opened with a token issued afterwards stays.
// (Two nodes: tests/cluster.)
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

class RevocationReachesSocketsTest : public ServerTest {
 protected:
  Session LoginAs(const std::string& username, const std::string& password = kPassword) {
    auto s = client::Login(http(), username, password);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? *s : Session{};
  }
  // Closed with 4003 within `timeout`, with nothing sent on it meanwhile.
  static ::testing::AssertionResult ClosedAsRevoked(WsClient& ws, std::chrono::milliseconds timeout = 3s) {
    if (!ws.WaitClosed(timeout)) return ::testing::AssertionFailure() << "still open";
    if (ws.close_code() != kCloseBadToken) {
      return ::testing::AssertionFailure() << "closed with " << ws.close_code().value_or(-1);
    }
    return ::testing::AssertionSuccess();
  }
  // Still open and answering.
  static ::testing::AssertionResult Alive(WsClient& ws) {
    auto pong = ws.Request({{"type", "ping"}});
    if (!pong || !FieldIs(*pong, "type", "pong"))
      return ::testing::AssertionFailure() << "no pong: " << Dump(pong);
    return ::testing::AssertionSuccess();
  }
};

TEST_F(RevocationReachesSocketsTest, PasswordChangeClosesEverySocketOfTheOldTokens) {
  Session user = NewUser("pwc");
  Session other = NewUser("pwo");
  Session second = LoginAs(user.username);
  auto first_ws = Open(user);
  auto second_ws = Open(second);
  auto other_ws = Open(other);
  ASSERT_TRUE(first_ws && second_ws && other_ws);

  auto changed = Post("/v1/auth/password", {{"old_password", kPassword}, {"new_password", "another-pass-1"}},
                      user.access_token);
  ASSERT_EQ(changed.status, 200) << changed.Describe();
  EXPECT_TRUE(ClosedAsRevoked(*first_ws));
  EXPECT_TRUE(ClosedAsRevoked(*second_ws));
  // Another user's socket, and one opened with the new session, stay.
  EXPECT_TRUE(Alive(*other_ws));
  Session fresh = user;
  fresh.access_token = GetString(changed.json, "access_token");
  auto fresh_ws = Open(fresh);
  ASSERT_TRUE(fresh_ws);
  EXPECT_TRUE(Alive(*fresh_ws));
}

TEST_F(RevocationReachesSocketsTest, LogoutEverywhereRevokesEveryTokenAndClosesEverySocket) {
  Session user = NewUser("lo");
  Session second = LoginAs(user.username);
  auto first_ws = Open(user);
  auto second_ws = Open(second);
  ASSERT_TRUE(first_ws && second_ws);

  // Everywhere needs the bearer token; "all" is a boolean.
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/logout", {{"all", true}}), 401, "unauthorized"));
  EXPECT_TRUE(IsHttpError(Post("/v1/auth/logout", {{"all", "yes"}}, user.access_token), 400, "bad_request"));
  EXPECT_TRUE(Alive(*first_ws));

  auto out = Post("/v1/auth/logout", {{"all", true}}, user.access_token);
  ASSERT_EQ(out.status, 204) << out.Describe();
  EXPECT_TRUE(ClosedAsRevoked(*first_ws));
  EXPECT_TRUE(ClosedAsRevoked(*second_ws));
  // Every access and refresh token of both logins is dead, the caller's too.
  for (const Session* s : {&user, &second}) {
    EXPECT_TRUE(IsHttpError(Get("/v1/me", s->access_token), 401, "unauthorized"));
    EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/refresh", {{"refresh_token", s->refresh_token}}), 401,
                            "unauthorized"));
  }
  auto refused = RawSocket();
  ASSERT_TRUE(refused);
  (void)refused->Hello(second.access_token);
  EXPECT_TRUE(ClosedAsRevoked(*refused, 5s));
  // The password still works: a new login is a new start.
  Session again = LoginAs(user.username);
  EXPECT_EQ(Get("/v1/me", again.access_token).status, 200);
  auto again_ws = Open(again);
  ASSERT_TRUE(again_ws);
  EXPECT_TRUE(Alive(*again_ws));
}

TEST_F(RevocationReachesSocketsTest, DeletionClosesTheUsersSocketsAtOnce) {
  Session doomed = NewUser("del");
  Session peer = NewUser("dpe");
  std::string dm = Dm(peer, doomed.username);
  ASSERT_FALSE(dm.empty());
  auto ws = Open(doomed);
  auto peer_ws = Open(peer);
  ASSERT_TRUE(ws && peer_ws);

  auto del = http().Request("DELETE", "/v1/me", json::serialize(json::object{{"password", kPassword}}),
                            doomed.access_token);
  ASSERT_EQ(del.status, 204) << del.Describe();
  EXPECT_TRUE(ClosedAsRevoked(*ws));
  EXPECT_TRUE(Alive(*peer_ws));
  EXPECT_EQ(History(peer, dm).size(), 0u);
}

}  // namespace
}  // namespace parley::testing
