// Privacy (PROTOCOL.md §7): a user's `online` and `last_seen` are shown only
// to their presence contacts and to the members of a group they share;
// elsewhere (GET /v1/users/{username}, the `presence` request) they read
// false and null, so walking ids lists nobody's online state.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

class PrivacyTest : public ServerTest {
 protected:
  // Small presence groups, so that a shared group larger than the limit
  // (no presence events) still shows online state on request.
  std::vector<std::string> ExtraFlags() const override { return {"--limits.presence_group_limit", "2"}; }

  // The `presence` request's entry for `user`, or an empty object.
  json::object Asked(WsClient& ws, const std::string& user) {
    auto r = ws.Request({{"type", "presence"}, {"users", json::array{user}}});
    EXPECT_TRUE(r && FieldIs(*r, "type", "presence")) << Dump(r);
    if (!r || !r->contains("users") || !r->at("users").is_array()) return {};
    for (const auto& u : r->at("users").as_array()) {
      if (u.is_object() && GetString(u, "user") == user) return u.as_object();
    }
    return {};
  }
};

TEST_F(PrivacyTest, OnlineStateOnlyForThoseWhoShareAConversation) {
  Session stranger = NewUser("ps");   // shares nothing with target
  Session dm_peer = NewUser("pd");    // a DM with target
  Session co_member = NewUser("pc");  // a group of 3 with target, over the presence limit of 2
  Session target = NewUser("pt");
  ASSERT_FALSE(Dm(dm_peer, target.username).empty());
  ASSERT_FALSE(CreateGroup(co_member, "big", {target.username, dm_peer.username}).empty());
  // Target was online and went away: last_seen is set.
  {
    auto once = Open(target);
    ASSERT_TRUE(once);
    once->Close();
  }
  auto online_now = Open(target);
  ASSERT_TRUE(online_now);

  auto stranger_ws = Open(stranger);
  auto peer_ws = Open(dm_peer);
  auto member_ws = Open(co_member);
  ASSERT_TRUE(stranger_ws && peer_ws && member_ws);

  // HTTP: the stranger sees false and null; the DM peer and the co-member
  // see the truth.
  auto seen_by = [&](const Session& viewer) {
    return Get("/v1/users/" + target.username, viewer.access_token);
  };
  auto hidden = seen_by(stranger);
  ASSERT_EQ(hidden.status, 200) << hidden.Describe();
  EXPECT_EQ(hidden.Object().at("online"), json::value(false)) << hidden.body;
  EXPECT_TRUE(hidden.Object().at("last_seen").is_null()) << hidden.body;
  EXPECT_EQ(GetString(hidden.json, "username"), target.username);
  for (const Session* viewer : {&dm_peer, &co_member}) {
    auto shown = seen_by(*viewer);
    ASSERT_EQ(shown.status, 200) << shown.Describe();
    EXPECT_EQ(shown.Object().at("online"), json::value(true)) << viewer->username << ": " << shown.body;
  }

  // The presence request: the same.
  json::object to_stranger = Asked(*stranger_ws, target.user_id);
  ASSERT_FALSE(to_stranger.empty());
  EXPECT_EQ(to_stranger.at("online"), json::value(false)) << Dump(to_stranger);
  EXPECT_TRUE(to_stranger.at("last_seen").is_null()) << Dump(to_stranger);
  EXPECT_EQ(Asked(*peer_ws, target.user_id).at("online"), json::value(true));
  EXPECT_EQ(Asked(*member_ws, target.user_id).at("online"), json::value(true));

  // Offline, the co-member reads last_seen; the stranger still reads null.
  online_now->Close();
  bool offline = false;
  for (int i = 0; i < 100 && !offline; ++i) {
    json::object e = Asked(*member_ws, target.user_id);
    // last_seen is stored just after the session is gone.
    offline = e.contains("online") && e.at("online") == json::value(false) && GetInt(e, "last_seen");
    if (!offline) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(offline);
  EXPECT_TRUE(Asked(*stranger_ws, target.user_id).at("last_seen").is_null());
  EXPECT_TRUE(seen_by(stranger).Object().at("last_seen").is_null());
}

TEST_F(PrivacyTest, WalkingIdsListsNobodyOnline) {
  std::vector<Session> users;
  std::vector<std::unique_ptr<WsClient>> sockets;
  for (int i = 0; i < 5; ++i) {
    users.push_back(NewUser("pw"));
    sockets.push_back(Open(users.back()));
    ASSERT_TRUE(sockets.back());
  }
  Session walker = NewUser("pk");
  auto ws = Open(walker);
  ASSERT_TRUE(ws);
  json::array ids;
  for (int id = 1; id <= 50; ++id) ids.emplace_back(std::to_string(id));
  auto r = ws->Request({{"type", "presence"}, {"users", ids}});
  ASSERT_TRUE(r && FieldIs(*r, "type", "presence")) << Dump(r);
  int listed = 0;
  for (const auto& u : r->at("users").as_array()) {
    if (GetString(u, "user") == walker.user_id) continue;  // oneself
    ++listed;
    EXPECT_EQ(u.at("online"), json::value(false)) << Dump(u);
    EXPECT_TRUE(u.at("last_seen").is_null()) << Dump(u);
  }
  EXPECT_GE(listed, 5) << "the other users exist and are online: " << Dump(r);
}

}  // namespace
}  // namespace parley::testing
