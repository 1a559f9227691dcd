// PROTOCOL.md §7 through the real parleyd: roles, bans and group settings
// over the WebSocket with their events, invites and blocks over HTTP.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;

class GroupsTest : public ServerTest {};

TEST_F(GroupsTest, RolesBansAndSettingsReachEveryMember) {
  auto owner = NewUser("own");
  auto member = NewUser("mem");
  auto other = NewUser("oth");
  std::string group = CreateGroup(owner, "crew", {member.username, other.username});
  ASSERT_FALSE(group.empty());
  auto ws_owner = Open(owner);
  auto ws_member = Open(member);
  auto ws_other = Open(other);
  ASSERT_TRUE(ws_owner && ws_member && ws_other);

  auto ok = ws_owner->Request(
      {{"type", "set_role"}, {"conv", group}, {"username", member.username}, {"role", "admin"}});
  ASSERT_TRUE(ok && FieldIs(*ok, "type", "ok")) << Dump(ok);
  auto role = ws_other->WaitFor(IsEvent("member", group), 5s);
  ASSERT_TRUE(role) << "members hear of the new role";
  EXPECT_TRUE(FieldIs(*role, "action", "role")) << Dump(role);
  EXPECT_TRUE(FieldIs(*role, "role", "admin")) << Dump(role);
  EXPECT_TRUE(FieldIs(*role, "user", member.user_id)) << Dump(role);

  // A plain member may not change the group; the admin may.
  auto refused = ws_other->Request({{"type", "update_group"}, {"conv", group}, {"topic", "mine"}});
  EXPECT_TRUE(IsWsError(refused, "forbidden")) << Dump(refused);
  ok = ws_member->Request({{"type", "update_group"}, {"conv", group}, {"topic", "launch"}});
  ASSERT_TRUE(ok && FieldIs(*ok, "type", "ok")) << Dump(ok);
  auto updated = ws_other->WaitFor(IsEvent("group_updated", group), 5s);
  ASSERT_TRUE(updated);
  EXPECT_TRUE(FieldIs(*updated, "topic", "launch")) << Dump(updated);
  EXPECT_TRUE(FieldIs(*updated, "title", "crew")) << Dump(updated);
  EXPECT_TRUE(FieldIs(*updated, "by", member.user_id)) << Dump(updated);

  // The admin bans the other member, who hears it too; adding them back is 403.
  ok = ws_member->Request({{"type", "ban"}, {"conv", group}, {"username", other.username}});
  ASSERT_TRUE(ok && FieldIs(*ok, "type", "ok")) << Dump(ok);
  auto banned = ws_other->WaitFor(
      [&](const boost::json::object& f) {
        return IsEvent("member", group)(f) && FieldIs(f, "action", "banned");
      },
      5s);
  ASSERT_TRUE(banned) << "the banned user's connections hear it";
  auto again =
      Post("/v1/conversations/" + group + "/members", {{"username", other.username}}, owner.access_token);
  EXPECT_TRUE(IsHttpError(again, 403, "forbidden")) << again.Describe();

  // The owner hands over the group and leaves it: the admin owns it.
  ok = ws_owner->Request({{"type", "transfer"}, {"conv", group}, {"username", member.username}});
  ASSERT_TRUE(ok && FieldIs(*ok, "type", "ok")) << Dump(ok);
  auto members = Get("/v1/conversations/" + group + "/members", member.access_token);
  ASSERT_EQ(members.status, 200) << members.Describe();
  for (const auto& m : members.Object().at("members").as_array()) {
    const auto& o = m.as_object();
    const std::string want = o.at("id").as_string() == member.user_id ? "owner" : "admin";
    EXPECT_EQ(o.at("role").as_string(), want) << Dump(o);
  }
  auto conv = Get("/v1/conversations", member.access_token);
  ASSERT_EQ(conv.status, 200);
  EXPECT_NE(conv.body.find("\"topic\":\"launch\""), std::string::npos) << conv.body;
}

TEST_F(GroupsTest, InvitesJoinUntilUsedUpAndCanBeRevoked) {
  auto owner = NewUser("own");
  auto first = NewUser("fst");
  auto second = NewUser("snd");
  std::string group = CreateGroup(owner, "club", {});
  ASSERT_FALSE(group.empty());
  auto ws_owner = Open(owner);
  ASSERT_TRUE(ws_owner);
  SendMessage(*ws_owner, group, "before anyone joined");

  auto made = Post("/v1/conversations/" + group + "/invites", {{"max_uses", 1}}, owner.access_token);
  ASSERT_EQ(made.status, 201) << made.Describe();
  const auto& invite = made.Object().at("invite").as_object();
  const std::string code(invite.at("code").as_string());
  EXPECT_EQ(invite.at("max_uses"), 1);
  EXPECT_EQ(invite.at("uses"), 0);
  EXPECT_TRUE(invite.at("expires_at").is_int64());

  auto joined = Post("/v1/invites/" + code + "/join", {}, first.access_token);
  ASSERT_EQ(joined.status, 200) << joined.Describe();
  EXPECT_EQ(joined.Object().at("id").as_string(), group);
  EXPECT_EQ(joined.Object().at("read_seq"), 1) << "history before joining is not unread";
  EXPECT_EQ(joined.Object().at("unread"), 0);
  auto added = ws_owner->WaitFor(IsEvent("member", group), 5s);
  ASSERT_TRUE(added);
  EXPECT_TRUE(FieldIs(*added, "action", "added")) << Dump(added);

  auto used_up = Post("/v1/invites/" + code + "/join", {}, second.access_token);
  EXPECT_TRUE(IsHttpError(used_up, 404, "not_found")) << used_up.Describe();

  auto unlimited = Post("/v1/conversations/" + group + "/invites", {}, owner.access_token);
  ASSERT_EQ(unlimited.status, 201) << unlimited.Describe();
  EXPECT_TRUE(unlimited.Object().at("invite").as_object().at("max_uses").is_null());
  const std::string code2(unlimited.Object().at("invite").as_object().at("code").as_string());
  auto revoked = Delete("/v1/conversations/" + group + "/invites/" + code2, owner.access_token);
  EXPECT_EQ(revoked.status, 204) << revoked.Describe();
  auto gone = Post("/v1/invites/" + code2 + "/join", {}, second.access_token);
  EXPECT_TRUE(IsHttpError(gone, 404, "not_found")) << gone.Describe();
  auto bad = Post("/v1/conversations/" + group + "/invites", {{"max_uses", 0}}, owner.access_token);
  EXPECT_TRUE(IsHttpError(bad, 400, "bad_request")) << bad.Describe();
}

TEST_F(GroupsTest, BlocksKeepTheBlockedUserOutWithoutSayingSo) {
  auto blocker = NewUser("blk");
  auto blocked = NewUser("bkd");
  auto put = http().Request("PUT", "/v1/blocks/" + blocked.username, std::nullopt, blocker.access_token);
  ASSERT_EQ(put.status, 204) << put.Describe();
  auto list = Get("/v1/blocks", blocker.access_token);
  ASSERT_EQ(list.status, 200) << list.Describe();
  ASSERT_EQ(list.Object().at("users").as_array().size(), 1u);
  EXPECT_EQ(list.Object().at("users").as_array()[0].as_object().at("username").as_string(), blocked.username);
  auto theirs = Get("/v1/blocks", blocked.access_token);
  ASSERT_EQ(theirs.status, 200);
  EXPECT_TRUE(theirs.Object().at("users").as_array().empty()) << "the blocked user sees nothing";

  auto dm = Post("/v1/conversations/dm", {{"username", blocker.username}}, blocked.access_token);
  EXPECT_TRUE(IsHttpError(dm, 403, "forbidden")) << dm.Describe();
  EXPECT_EQ(dm.body.find("block"), std::string::npos) << dm.body;
  // The blocker may still open the DM and send into it; the blocked may not send.
  std::string conv = Dm(blocker, blocked.username);
  ASSERT_FALSE(conv.empty());
  auto ws_blocker = Open(blocker);
  auto ws_blocked = Open(blocked);
  ASSERT_TRUE(ws_blocker && ws_blocked);
  EXPECT_TRUE(FieldIs(SendMessage(*ws_blocker, conv, "hello"), "type", "sent"));
  auto refused = SendMessage(*ws_blocked, conv, "let me in");
  EXPECT_TRUE(IsWsError(refused, "forbidden")) << Dump(refused);

  auto self = http().Request("PUT", "/v1/blocks/" + blocker.username, std::nullopt, blocker.access_token);
  EXPECT_TRUE(IsHttpError(self, 400, "bad_request")) << self.Describe();
  auto ghost = http().Request("PUT", "/v1/blocks/nobody_here", std::nullopt, blocker.access_token);
  EXPECT_TRUE(IsHttpError(ghost, 404, "not_found")) << ghost.Describe();
  auto lifted = Delete("/v1/blocks/" + blocked.username, blocker.access_token);
  EXPECT_EQ(lifted.status, 204);
  EXPECT_TRUE(FieldIs(SendMessage(*ws_blocked, conv, "thanks"), "type", "sent"));
}

}  // namespace
}  // namespace parley::testing
