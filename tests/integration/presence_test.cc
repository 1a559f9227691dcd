// PROTOCOL.md section 2, presence: who gets online/offline events, when, and
// the presence request; guarantee 4 (convergence).
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

constexpr auto kEventWait = 3s;
constexpr auto kQuiet = 700ms;

class PresenceTest : public ServerTest {
 protected:
  // Two users who share a DM, both connected; `seen`: b saw a come online.
  struct DmContacts {
    Session a, b;
    std::unique_ptr<client::WsClient> a1, b1;
    bool seen = false;
  };
  DmContacts ConnectedDm(const std::string& prefix) {
    DmContacts p;
    p.a = NewUser(prefix);
    p.b = NewUser(prefix);
    Dm(p.a, p.b.username);
    p.b1 = Open(p.b);
    p.a1 = Open(p.a);
    p.seen = p.a1 && p.b1 && p.b1->WaitFor(IsPresence(p.a.user_id, true), kEventWait);
    return p;
  }
};

class PresenceHeartbeatTest : public PresenceTest {
 protected:
  std::vector<std::string> ExtraFlags() const override { return {"--limits.heartbeat_ms", "1000"}; }
};

TEST_F(PresenceTest, DmContactSeesOnlineOnceAndOfflineWhenLastCloses) {
  Session a = NewUser("po");
  Session b = NewUser("po");
  Dm(a, b.username);
  auto b1 = Open(b);
  ASSERT_TRUE(b1);
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  auto online = b1->WaitFor(IsPresence(a.user_id, true), kEventWait);
  ASSERT_TRUE(online) << "no online event for a DM contact";
  EXPECT_EQ(GetString(*online, "username"), a.username);
  EXPECT_TRUE(online->contains("last_seen")) << Dump(online);

  // A second connection: no second online.
  auto a2 = Open(a);
  ASSERT_TRUE(a2);
  EXPECT_FALSE(b1->WaitFor(IsPresence(a.user_id, true), kQuiet)) << "second connection sent a second online";
  // Closing one of two: no offline.
  a1->Close();
  EXPECT_FALSE(b1->WaitFor(IsPresence(a.user_id, false), kQuiet)) << "offline while a connection remains";
  // Closing the last one cleanly: offline at once, with last_seen.
  int64_t before = NowMs();
  a2->Close();
  auto offline = b1->WaitFor(IsPresence(a.user_id, false), 2s);
  ASSERT_TRUE(offline) << "no offline event on a clean close";
  EXPECT_EQ(GetString(*offline, "username"), a.username);
  auto last_seen = GetInt(*offline, "last_seen");
  ASSERT_TRUE(last_seen) << "offline needs last_seen: " << Dump(offline);
  EXPECT_GE(*last_seen, before - 5000);
  EXPECT_LE(*last_seen, NowMs() + 5000);
  // HTTP agrees.
  auto user = Get("/v1/users/" + a.username, b.access_token);
  EXPECT_FALSE(user.Object().at("online").as_bool());
  EXPECT_TRUE(GetInt(user.json, "last_seen"));
}

TEST_F(PresenceTest, OnlineShowsInUserAndMe) {
  Session a = NewUser("pu");
  Session b = NewUser("pu");
  Dm(a, b.username);  // online state is shown to those who share a conversation (1.1 §7)
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  auto user = Get("/v1/users/" + a.username, b.access_token);
  ASSERT_EQ(user.status, 200);
  EXPECT_TRUE(user.Object().at("online").as_bool()) << user.body;
  auto me = Get("/v1/me", a.access_token);
  ASSERT_EQ(me.status, 200);
  EXPECT_TRUE(me.Object().at("online").as_bool()) << me.body;
}

TEST_F(PresenceTest, SmallGroupMembersAreContacts) {
  Session a = NewUser("pg");
  Session b = NewUser("pg");
  CreateGroup(a, "small", {b.username});
  auto b1 = Open(b);
  ASSERT_TRUE(b1);
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  EXPECT_TRUE(b1->WaitFor(IsPresence(a.user_id, true), kEventWait));
}

TEST_F(PresenceTest, StrangersGetNoPresence) {
  Session a = NewUser("ps");
  Session b = NewUser("ps");
  auto b1 = Open(b);
  ASSERT_TRUE(b1);
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  EXPECT_FALSE(b1->WaitFor(IsType("presence"), kQuiet));
  a1->Close();
  EXPECT_FALSE(b1->WaitFor(IsType("presence"), kQuiet));
}

TEST_F(PresenceTest, HelloGetsPresenceOfOnlineContactsAfterWelcome) {
  Session a = NewUser("ph");
  Session b = NewUser("ph");
  Session c = NewUser("ph");
  Dm(a, b.username);
  Dm(a, c.username);
  auto b1 = Open(b);  // online
  ASSERT_TRUE(b1);    // c stays offline
  json::object welcome;
  auto a1 = Open(a, &welcome);
  ASSERT_TRUE(a1);
  auto p = a1->WaitFor(IsPresence(b.user_id, true), kEventWait);
  ASSERT_TRUE(p) << "no presence for an online contact after welcome";
  EXPECT_EQ(GetString(*p, "username"), b.username);
  EXPECT_FALSE(a1->WaitFor(
      [&](const json::object& o) { return FieldIs(o, "type", "presence") && FieldIs(o, "user", c.user_id); },
      kQuiet))
      << "presence on hello is only for contacts online now";
}

TEST_F(PresenceTest, PresenceRequest) {
  Session a = NewUser("pr");
  Session b = NewUser("pr");
  Session c = NewUser("pr");
  // Online state is shown only to those who share a conversation
  // (PROTOCOL.md §7): `never` shares none with a.
  ASSERT_FALSE(CreateGroup(a, "pr", {b.username, c.username}).empty());
  auto b1 = Open(b);
  ASSERT_TRUE(b1);
  auto c1 = Open(c);
  ASSERT_TRUE(c1);
  c1->Close();
  Session never = NewUser("pr");
  auto a1 = Open(a);
  ASSERT_TRUE(a1);
  // c's clean close is processed off the io thread: the offline state may
  // take a moment to land, so ask until it has (bounded).
  std::optional<json::object> r;
  for (int attempt = 0; attempt < 50; ++attempt) {
    r = a1->Request(
        {{"id", 12}, {"type", "presence"}, {"users", json::array{b.user_id, c.user_id, never.user_id}}});
    ASSERT_TRUE(r);
    bool c_offline = false;
    if (r->contains("users") && r->at("users").is_array()) {
      for (const auto& u : r->at("users").as_array()) {
        if (GetString(u, "user") == c.user_id && u.as_object().contains("online")) {
          c_offline = u.at("online") == false;
        }
      }
    }
    if (c_offline) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(GetInt(*r, "re"), 12);
  EXPECT_TRUE(FieldIs(*r, "type", "presence")) << Dump(r);
  ASSERT_TRUE(r->contains("users") && r->at("users").is_array()) << Dump(r);
  int seen = 0;
  for (const auto& u : r->at("users").as_array()) {
    std::string id = GetString(u, "user");
    const auto& o = u.as_object();
    ASSERT_TRUE(o.contains("online") && o.at("online").is_bool()) << Dump(u);
    ASSERT_TRUE(o.contains("last_seen")) << Dump(u);
    if (id == b.user_id) {
      ++seen;
      EXPECT_EQ(GetString(u, "username"), b.username);
      EXPECT_TRUE(o.at("online").as_bool());
    } else if (id == c.user_id) {
      ++seen;
      EXPECT_EQ(GetString(u, "username"), c.username);
      EXPECT_FALSE(o.at("online").as_bool());
      EXPECT_TRUE(GetInt(o, "last_seen")) << "was online, so last_seen is set: " << Dump(u);
    } else if (id == never.user_id) {
      ++seen;
      EXPECT_FALSE(o.at("online").as_bool());
      EXPECT_TRUE(o.at("last_seen").is_null()) << Dump(u);
    }
  }
  EXPECT_EQ(seen, 3) << Dump(r);
  // At most 500 users.
  json::array many;
  for (int i = 0; i < 501; ++i) many.emplace_back(std::to_string(1000000 + i));
  EXPECT_TRUE(IsWsError(a1->Request({{"id", 13}, {"type", "presence"}, {"users", many}}), "bad_request", 13));
  json::array five_hundred;
  for (int i = 0; i < 500; ++i) five_hundred.emplace_back(std::to_string(1000000 + i));
  auto ok = a1->Request({{"id", 14}, {"type", "presence"}, {"users", five_hundred}});
  ASSERT_TRUE(ok);
  EXPECT_TRUE(FieldIs(*ok, "type", "presence")) << Dump(ok).substr(0, 300);
}

TEST_F(PresenceTest, TwoUsersDoNotShareTheirPresenceState) {
  // The offline event is per user: b going offline does not mark a offline.
  Session a = NewUser("pt");
  Session b = NewUser("pt");
  Session c = NewUser("pt");
  Dm(c, a.username);
  Dm(c, b.username);
  auto c1 = Open(c), a1 = Open(a), b1 = Open(b);
  ASSERT_TRUE(c1 && a1 && b1);
  ASSERT_TRUE(c1->WaitFor(IsPresence(a.user_id, true), kEventWait));
  ASSERT_TRUE(c1->WaitFor(IsPresence(b.user_id, true), kEventWait));
  b1->Close();
  ASSERT_TRUE(c1->WaitFor(IsPresence(b.user_id, false), kEventWait));
  EXPECT_FALSE(c1->WaitFor(IsPresence(a.user_id, false), kQuiet));
}

// A cut connection (no close frame) lingers for limits.offline_grace_ms,
// whose default (5 s) is over two of these 1 s heartbeats: the server holds
// the grace to one heartbeat, so PROTOCOL.md §3's bound still holds.
TEST_F(PresenceHeartbeatTest, DroppedConnectionGoesOfflineWithinTwoHeartbeats) {
  auto p = ConnectedDm("pd");
  ASSERT_TRUE(p.seen);
  auto start = std::chrono::steady_clock::now();
  p.a1->Abort();  // no closing handshake
  auto offline = p.b1->WaitFor(IsPresence(p.a.user_id, false), 3s);
  ASSERT_TRUE(offline) << "no offline within 3 s with heartbeat_ms 1000";
  EXPECT_LE(std::chrono::steady_clock::now() - start, 2100ms) << "within 2 heartbeats";
  EXPECT_TRUE(GetInt(*offline, "last_seen"));
}

class PresenceGraceTest : public PresenceTest {
 protected:
  std::vector<std::string> ExtraFlags() const override { return {"--limits.offline_grace_ms", "1500"}; }
};

// A connection cut without a closing handshake: back within the grace, the
// contact hears nothing; gone for good, offline after the grace with
// last_seen at the cut.
TEST_F(PresenceGraceTest, CutConnectionBackWithinTheGraceFlapsNothing) {
  auto p = ConnectedDm("pg");
  ASSERT_TRUE(p.seen);

  p.a1->Abort();
  auto a2 = Open(p.a);
  ASSERT_TRUE(a2);
  EXPECT_FALSE(p.b1->WaitFor(
      [&](const boost::json::object& f) {
        return IsPresence(p.a.user_id, false)(f) || IsPresence(p.a.user_id, true)(f);
      },
      2500ms))
      << "presence flapped for a client back within the grace";

  const int64_t cut = NowMs();
  const auto start = std::chrono::steady_clock::now();
  a2->Abort();
  auto offline = p.b1->WaitFor(IsPresence(p.a.user_id, false), kEventWait);
  ASSERT_TRUE(offline) << "no offline after the grace";
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1400ms) << "offline before the grace was over";
  auto last_seen = GetInt(*offline, "last_seen");
  ASSERT_TRUE(last_seen);
  EXPECT_LE(*last_seen, cut + 1000) << "last_seen is the cut, not the end of the grace";
}

}  // namespace
}  // namespace parley::testing
