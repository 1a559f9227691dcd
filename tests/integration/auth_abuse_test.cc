// Authentication abuse: login brute force (per address and per account,
// with the X-Forwarded-For rules), and token revocation (logout, password
// change, refresh-token replay, account deletion over HTTP and WebSocket).
// Each revocation case runs many times and checks that the server's memory
// (VmRSS) stays bounded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "protocol/http_bodies.h"
#include "server_fixture.h"

namespace parley::testing {
namespace {

// The server's resident memory, in KiB (0 when unreadable).
int64_t RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

struct RawResponse {
  int status = 0;
  std::string head;  // status line and headers
  json::value json;
};

// One HTTP/1.1 request on a fresh connection whose source address is
// `from` (any 127.x.y.z works on loopback): how the tests act as clients on
// different addresses. `headers` are extra header lines ("Name: value").
RawResponse RawRequest(uint16_t port, const std::string& from, const std::string& method,
                       const std::string& target, const std::string& body,
                       const std::vector<std::string>& headers = {}) {
  RawResponse out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    return out;
  }
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  req +=
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t end = text.find("\r\n\r\n");
  if (text.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return out;
  out.status = std::atoi(text.c_str() + 9);
  out.head = text.substr(0, end);
  std::error_code ec;
  out.json = json::parse(text.substr(end + 4), ec);
  return out;
}

// The error body's code and retry_after_ms ("" and nullopt when it is not one).
std::string ErrorCode(const json::value& v) {
  auto e = protocol::ParseErrorBody(v);
  return e ? e->code_name : "";
}

std::optional<int64_t> RetryAfterMs(const json::value& v) {
  auto e = protocol::ParseErrorBody(v);
  if (!e || e->retry_after_ms == 0) return std::nullopt;
  return e->retry_after_ms;
}

// --- brute force -----------------------------------------------------------------

class BruteForceTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--auth.login_max_failures_per_address",
            "5",
            "--auth.login_max_failures_per_account",
            "12",
            "--auth.login_window_s",
            "60"};
  }
  RawResponse Login(const std::string& from, const std::string& user, const std::string& password,
                    const std::vector<std::string>& headers = {}) {
    return RawRequest(server().port(), from, "POST", "/v1/auth/login", protocol::LoginBody(user, password),
                      headers);
  }
};

TEST_F(BruteForceTest, OneAddressIsStoppedAndTheRealUserGetsInFromAnother) {
  Session victim = NewUser("bf");
  for (int i = 0; i < 5; ++i) {
    auto r = Login("127.0.0.2", victim.username, "guess-" + std::to_string(i));
    ASSERT_EQ(r.status, 401) << i << ": " << r.head;
  }
  auto limited = Login("127.0.0.2", victim.username, "guess-5");
  ASSERT_EQ(limited.status, 429) << limited.head;
  EXPECT_EQ(ErrorCode(limited.json), "rate_limited") << json::serialize(limited.json);
  auto retry = RetryAfterMs(limited.json);
  ASSERT_TRUE(retry) << json::serialize(limited.json);
  EXPECT_GT(*retry, 50'000);
  EXPECT_LE(*retry, 60'000);
  // The same wait in whole seconds, as HTTP says it (RFC 9110 Retry-After).
  EXPECT_NE(limited.head.find("Retry-After: " + std::to_string((*retry + 999) / 1000)), std::string::npos)
      << limited.head;
  // Even the right password does not get through from that address, nor
  // another account: the address is refused, with no password checked.
  EXPECT_EQ(Login("127.0.0.2", victim.username, kPassword).status, 429);
  Session other = NewUser("bf");
  EXPECT_EQ(Login("127.0.0.2", other.username, kPassword).status, 429);
  // The real user, from another address, gets in (the account is at 5 of 12).
  auto real = Login("127.0.0.3", victim.username, kPassword);
  EXPECT_EQ(real.status, 200) << real.head;
  EXPECT_EQ(GetString(real.json, "access_token").empty(), false);
}

TEST_F(BruteForceTest, ManyAddressesAgainstOneAccountStopItEverywhereForAWindow) {
  Session victim = NewUser("bf");
  // 4 failures, then the real user's success clears the account's count.
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(Login("127.0.1." + std::to_string(i + 1), victim.username, "x-guess-1").status, 401);
  ASSERT_EQ(Login("127.0.2.1", victim.username, kPassword).status, 200);
  // 12 failures spread over 4 addresses (3 each: under the address limit).
  for (int i = 0; i < 12; ++i) {
    auto r = Login("127.0.3." + std::to_string(i % 4 + 1), victim.username, "x-guess-2");
    ASSERT_EQ(r.status, 401) << i << ": " << r.head;
  }
  // The account is refused from everywhere now, with the same answer as an
  // address would get.
  auto limited = Login("127.0.4.1", victim.username, kPassword);
  ASSERT_EQ(limited.status, 429) << limited.head;
  EXPECT_TRUE(RetryAfterMs(limited.json).has_value());
  // Other accounts from those addresses are not.
  Session other = NewUser("bf");
  EXPECT_EQ(Login("127.0.3.1", other.username, kPassword).status, 200);
  // Unknown accounts are throttled alike: the answer does not tell whether
  // an account exists.
  const std::string ghost = "ghost_" + std::to_string(getpid());
  for (int i = 0; i < 12; ++i)
    ASSERT_EQ(Login("127.0.5." + std::to_string(i % 4 + 1), ghost, "x").status, 401);
  EXPECT_EQ(Login("127.0.6.1", ghost, "x").status, 429);
}

class ShortWindowTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--auth.login_max_failures_per_address", "3", "--auth.login_window_s", "2"};
  }
};

TEST_F(ShortWindowTest, TheRefusalEndsWhenTheOldestFailureLeavesTheWindow) {
  Session victim = NewUser("sw");
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(RawRequest(server().port(), "127.0.0.7", "POST", "/v1/auth/login",
                         protocol::LoginBody(victim.username, "nope-nope"))
                  .status,
              401);
  auto limited = RawRequest(server().port(), "127.0.0.7", "POST", "/v1/auth/login",
                            protocol::LoginBody(victim.username, kPassword));
  ASSERT_EQ(limited.status, 429);
  auto retry = RetryAfterMs(limited.json);
  ASSERT_TRUE(retry);
  EXPECT_LE(*retry, 2000);
  std::this_thread::sleep_for(std::chrono::milliseconds(*retry + 100));
  auto again = RawRequest(server().port(), "127.0.0.7", "POST", "/v1/auth/login",
                          protocol::LoginBody(victim.username, kPassword));
  EXPECT_EQ(again.status, 200) << again.head;
}

class TrustedProxyTest : public BruteForceTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    auto flags = BruteForceTest::ExtraFlags();
    flags.insert(flags.end(), {"--auth.trusted_proxies", "127.0.0.1, 127.0.0.50"});
    return flags;
  }
};

TEST_F(TrustedProxyTest, BehindATrustedProxyTheForwardedClientIsCounted) {
  Session victim = NewUser("xf");
  // The attacker, behind our proxy (127.0.0.1), prepends a fake entry of
  // its own: the proxy appended the real one, which is what counts.
  for (int i = 0; i < 5; ++i) {
    auto r = Login("127.0.0.1", victim.username, "xf-guess",
                   {"X-Forwarded-For: 198.51.100." + std::to_string(i) + ", 203.0.113.66"});
    ASSERT_EQ(r.status, 401) << r.head;
  }
  EXPECT_EQ(Login("127.0.0.1", victim.username, kPassword, {"X-Forwarded-For: 203.0.113.66"}).status, 429);
  // Through two proxies (127.0.0.50 appended by the first) too.
  EXPECT_EQ(
      Login("127.0.0.1", victim.username, kPassword, {"X-Forwarded-For: 203.0.113.66, 127.0.0.50"}).status,
      429);
  // The real user, behind the same proxy from another address, gets in.
  EXPECT_EQ(Login("127.0.0.1", victim.username, kPassword, {"X-Forwarded-For: 203.0.113.7"}).status, 200);
  // An untrusted peer's header is ignored: it is counted as itself.
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(
        Login("127.0.0.9", victim.username, "xf-guess", {"X-Forwarded-For: 192.0.2." + std::to_string(i)})
            .status,
        401);
  EXPECT_EQ(Login("127.0.0.9", victim.username, kPassword, {"X-Forwarded-For: 192.0.2.200"}).status, 429);
}

TEST_F(BruteForceTest, WithoutTrustedProxiesTheHeaderIsIgnored) {
  Session victim = NewUser("nx");
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(
        Login("127.0.0.11", victim.username, "nx-guess", {"X-Forwarded-For: 198.51.100." + std::to_string(i)})
            .status,
        401);
  }
  EXPECT_EQ(Login("127.0.0.11", victim.username, kPassword, {"X-Forwarded-For: 198.51.100.99"}).status, 429);
}

class ThrottleMemoryTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--auth.login_max_failures_per_address", "0", "--auth.login_throttle_max_entries", "100"};
  }
};

TEST_F(ThrottleMemoryTest, GuessingAtManyAccountsKeepsMemoryBounded) {
  auto guess = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      auto r = http().Post("/v1/auth/login",
                           {{"username", "acct_" + std::to_string(i)}, {"password", "wrong-pass"}});
      ASSERT_EQ(r.status, 401) << i << ": " << r.Describe();
    }
  };
  guess(0, 500);  // warm up: allocator pools, caches, the throttle at its cap
  const int64_t before = RssKb(server().pid());
  guess(500, 4500);
  const int64_t after = RssKb(server().pid());
  ASSERT_GT(before, 0);
  std::cout << "[ measure ] RSS before " << before << " KiB, after 4000 more failed logins for new accounts "
            << after << " KiB\n";
  EXPECT_LT(after - before, 4 * 1024) << "the throttle keeps at most 100 accounts";
}

// --- token revocation ------------------------------------------------------------

class RevocationTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    // Every login in these tests comes from 127.0.0.1 with good passwords;
    // failures are deliberate and few.
    return {"--auth.login_max_failures_per_address", "1000"};
  }
  Result<Session> LoginAs(const std::string& username, const std::string& password = kPassword) {
    return client::Login(http(), username, password);
  }
  client::Response RefreshWith(const std::string& token) {
    return http().Post("/v1/auth/refresh", {{"refresh_token", token}});
  }
  // Runs `round` `n` times (after a warm-up of n/5) and checks RSS growth.
  void Bounded(const std::string& what, int n, const std::function<void(int)>& round) {
    for (int i = 0; i < n / 5; ++i) {
      round(i);
      if (HasFatalFailure()) return;
    }
    const int64_t before = RssKb(server().pid());
    for (int i = n / 5; i < n + n / 5; ++i) {
      round(i);
      if (HasFatalFailure()) return;
    }
    const int64_t after = RssKb(server().pid());
    std::cout << "[ measure ] " << what << ": RSS " << before << " KiB -> " << after << " KiB over " << n
              << " rounds\n";
    ASSERT_GT(before, 0);
    EXPECT_LT(after - before, 6 * 1024) << what;
  }
};

TEST_F(RevocationTest, LogoutRevokesThatLoginsFamilyOnly) {
  Session user = NewUser("lo");
  Bounded("logout", 200, [&](int i) {
    auto a = LoginAs(user.username);
    auto b = LoginAs(user.username);
    ASSERT_TRUE(a.ok() && b.ok()) << i;
    // Rotate a once: logout with either the rotated or the current token
    // ends the whole family.
    auto rotated = RefreshWith(a->refresh_token);
    ASSERT_EQ(rotated.status, 200) << rotated.Describe();
    const std::string a2 = GetString(rotated.json, "refresh_token");
    auto out = http().Post("/v1/auth/logout", {{"refresh_token", i % 2 ? a->refresh_token : a2}});
    ASSERT_EQ(out.status, 204) << out.Describe();
    EXPECT_TRUE(IsHttpError(RefreshWith(a2), 401, "unauthorized")) << i;
    // The other login is untouched; logging out twice is fine.
    auto other = RefreshWith(b->refresh_token);
    EXPECT_EQ(other.status, 200) << other.Describe();
    EXPECT_EQ(http().Post("/v1/auth/logout", {{"refresh_token", a2}}).status, 204);
    EXPECT_EQ(
        http().Post("/v1/auth/logout", {{"refresh_token", GetString(other.json, "refresh_token")}}).status,
        204);
  });
  EXPECT_TRUE(IsHttpError(http().Post("/v1/auth/logout", json::object{}), 400, "bad_request"));
}

TEST_F(RevocationTest, ReplayingARotatedRefreshTokenRevokesTheFamily) {
  Session user = NewUser("rp");
  Bounded("refresh replay", 200, [&](int i) {
    auto login = LoginAs(user.username);
    ASSERT_TRUE(login.ok()) << i;
    // The victim rotates r1 -> r2; the thief replays the stolen r1.
    auto victim = RefreshWith(login->refresh_token);
    ASSERT_EQ(victim.status, 200) << victim.Describe();
    const std::string r2 = GetString(victim.json, "refresh_token");
    auto thief = RefreshWith(login->refresh_token);
    EXPECT_TRUE(IsHttpError(thief, 401, "unauthorized")) << i;
    // Both the thief's chance and the victim's newest token are gone.
    EXPECT_TRUE(IsHttpError(RefreshWith(r2), 401, "unauthorized")) << i;
  });
  // A family the thief never touched still works.
  auto untouched = LoginAs(user.username);
  ASSERT_TRUE(untouched.ok());
  EXPECT_EQ(RefreshWith(untouched->refresh_token).status, 200);
}

TEST_F(RevocationTest, PasswordChangeRevokesEveryTokenAndGivesANewSession) {
  Session user = NewUser("pw");
  std::string password = kPassword;
  Bounded("password change", 40, [&](int i) {
    auto a = LoginAs(user.username, password);
    auto b = LoginAs(user.username, password);
    ASSERT_TRUE(a.ok() && b.ok()) << i;
    const std::string next = "new-password-" + std::to_string(i);
    auto changed = http().Post("/v1/auth/password", {{"old_password", password}, {"new_password", next}},
                               a->access_token);
    ASSERT_EQ(changed.status, 200) << changed.Describe();
    const std::string fresh_access = GetString(changed.json, "access_token");
    const std::string fresh_refresh = GetString(changed.json, "refresh_token");
    ASSERT_FALSE(fresh_access.empty() || fresh_refresh.empty());
    // Every refresh token and every access token issued before is dead.
    EXPECT_TRUE(IsHttpError(RefreshWith(a->refresh_token), 401, "unauthorized"));
    EXPECT_TRUE(IsHttpError(RefreshWith(b->refresh_token), 401, "unauthorized"));
    EXPECT_TRUE(IsHttpError(Get("/v1/me", a->access_token), 401, "unauthorized"));
    EXPECT_TRUE(IsHttpError(Get("/v1/me", b->access_token), 401, "unauthorized"));
    // The new session works, and so does the new password; the old does not.
    EXPECT_EQ(Get("/v1/me", fresh_access).status, 200);
    auto rotated = RefreshWith(fresh_refresh);
    EXPECT_EQ(rotated.status, 200) << rotated.Describe();
    EXPECT_TRUE(
        IsHttpError(http().Post("/v1/auth/login", {{"username", user.username}, {"password", password}}), 401,
                    "unauthorized"));
    password = next;
    if (i == 0) {
      // The old token no longer opens a WebSocket.
      auto ws = RawSocket();
      ASSERT_TRUE(ws);
      (void)ws->Hello(b->access_token);
      ASSERT_TRUE(ws->WaitClosed(5s));
      EXPECT_EQ(ws->close_code(), kCloseBadToken);
      auto ok = Open(Session{user.user_id, user.username, "", fresh_access, "", 0, {}});
      EXPECT_TRUE(ok);
    }
  });
  // A wrong old password is 403 and changes nothing; a short new one 400.
  auto s = LoginAs(user.username, password);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(IsHttpError(
      http().Post("/v1/auth/password", {{"old_password", "wrong-pass"}, {"new_password", "abcdefgh1"}},
                  s->access_token),
      403, "forbidden"));
  EXPECT_TRUE(
      IsHttpError(http().Post("/v1/auth/password", {{"old_password", password}, {"new_password", "short"}},
                              s->access_token),
                  400, "bad_request"));
  EXPECT_EQ(Get("/v1/me", s->access_token).status, 200);
}

TEST_F(RevocationTest, ADeletedUsersTokensStopEverywhere) {
  Session peer = NewUser("dp");
  Bounded("account deletion", 40, [&](int i) {
    Session doomed = NewUser("dd");
    ASSERT_FALSE(doomed.access_token.empty());
    std::string group = CreateGroup(peer, "club " + std::to_string(i), {doomed.username});
    std::string dm = Dm(doomed, peer.username);
    auto ws = Open(doomed);
    auto peer_ws = Open(peer);
    ASSERT_TRUE(ws && peer_ws);
    auto sent = SendMessage(*ws, group, "before I go");
    ASSERT_TRUE(FieldIs(sent, "type", "sent")) << Dump(sent);

    auto del = http().Request("DELETE", "/v1/me", json::serialize(json::object{{"password", kPassword}}),
                              doomed.access_token);
    ASSERT_EQ(del.status, 204) << del.Describe();

    // HTTP: every call with the still unexpired access token is 401.
    EXPECT_TRUE(IsHttpError(Get("/v1/me", doomed.access_token), 401, "unauthorized"));
    EXPECT_TRUE(IsHttpError(Get("/v1/conversations", doomed.access_token), 401, "unauthorized"));
    EXPECT_TRUE(
        IsHttpError(Get("/v1/conversations/" + dm + "/messages", doomed.access_token), 401, "unauthorized"));
    EXPECT_TRUE(IsHttpError(RefreshWith(doomed.refresh_token), 401, "unauthorized"));
    EXPECT_TRUE(
        IsHttpError(http().Post("/v1/auth/login", {{"username", doomed.username}, {"password", kPassword}}),
                    401, "unauthorized"));
    // The name stays taken: nobody can pass for them.
    EXPECT_TRUE(IsHttpError(
        http().Post("/v1/auth/register", {{"username", doomed.username}, {"password", "imposter-1"}}), 409,
        "conflict"));
    EXPECT_TRUE(IsHttpError(Get("/v1/users/" + doomed.username, peer.access_token), 404, "not_found"));
    // WebSocket: a new hello is refused; the open connection's requests fail.
    auto again = RawSocket();
    ASSERT_TRUE(again);
    (void)again->Hello(doomed.access_token);
    ASSERT_TRUE(again->WaitClosed(5s));
    EXPECT_EQ(again->close_code(), kCloseBadToken);
    // The open connection was closed with 4003 at once (PROTOCOL.md §7),
    // as a refused hello would be.
    ASSERT_TRUE(ws->WaitClosed(5s));
    EXPECT_EQ(ws->close_code(), kCloseBadToken);
    // The peer saw them leave the group; their messages stay.
    auto left = peer_ws->WaitFor(
        [&](const json::object& e) {
          return FieldIs(e, "type", "member") && FieldIs(e, "action", "left") &&
                 FieldIs(e, "user", doomed.user_id);
        },
        5s);
    EXPECT_TRUE(left) << "no left event";
    EXPECT_EQ(History(peer, group).size(), 1u);
  });
}

}  // namespace
}  // namespace parley::testing
