// PATCH /v1/me (PROTOCOL.md §7): the display name, its limits, and the
// `user_updated` event to the user's presence contacts and the members of
// their groups (the user's own other connections too), and to nobody else.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

class ProfileTest : public ServerTest {
 protected:
  // A group of 3 is then over the presence limit: its members are no
  // presence contacts, and still hear of the change.
  std::vector<std::string> ExtraFlags() const override { return {"--limits.presence_group_limit", "2"}; }

  client::Response Patch(const std::string& body, const std::string& token) {
    return http().Request("PATCH", "/v1/me", body, token);
  }
  static client::WsClient::Predicate IsUserUpdated(const std::string& user) {
    return [user](const json::object& e) {
      return FieldIs(e, "type", "user_updated") && FieldIs(e, "user", user);
    };
  }
};

TEST_F(ProfileTest, DisplayNameReachesContactsAndGroupMembersOnly) {
  Session ann = NewUser("pa"), dm_peer = NewUser("pb"), member = NewUser("pc"), other = NewUser("pd"),
          stranger = NewUser("pe");
  ASSERT_FALSE(Dm(ann, dm_peer.username).empty());
  ASSERT_FALSE(CreateGroup(member, "three", {ann.username, other.username}).empty());
  auto ann_other_device = Open(ann);
  auto peer_ws = Open(dm_peer);
  auto member_ws = Open(member);
  auto stranger_ws = Open(stranger);
  ASSERT_TRUE(ann_other_device && peer_ws && member_ws && stranger_ws);

  const std::string name = "Ann \xc3\x84. \xf0\x9f\x99\x82";  // "Ann Ä. 🙂"
  auto r = Patch(json::serialize(json::object{{"display_name", name}}), ann.access_token);
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(GetString(r.json, "id"), ann.user_id);
  EXPECT_EQ(GetString(r.json, "username"), ann.username);
  EXPECT_EQ(GetString(r.json, "display_name"), name);
  EXPECT_TRUE(r.Object().contains("online") && r.Object().contains("last_seen")) << r.body;

  for (WsClient* ws : {ann_other_device.get(), peer_ws.get(), member_ws.get()}) {
    auto e = ws->WaitFor(IsUserUpdated(ann.user_id), 5s);
    ASSERT_TRUE(e) << "no user_updated";
    EXPECT_EQ(GetString(*e, "username"), ann.username);
    EXPECT_EQ(GetString(*e, "display_name"), name);
  }
  EXPECT_FALSE(stranger_ws->WaitFor(IsUserUpdated(ann.user_id), 500ms)) << "a stranger heard of it";
  // Everyone reads the new name; the username stays.
  EXPECT_EQ(GetString(Get("/v1/users/" + ann.username, stranger.access_token).json, "display_name"), name);
  EXPECT_EQ(GetString(Get("/v1/me", ann.access_token).json, "display_name"), name);
  auto login = client::Login(http(), ann.username, kPassword);
  ASSERT_TRUE(login.ok());
  EXPECT_EQ(login->display_name, name);
}

TEST_F(ProfileTest, BadDisplayNamesAreRefusedAndChangeNothing) {
  Session ann = NewUser("pf");
  const std::string before = GetString(Get("/v1/me", ann.access_token).json, "display_name");
  const std::string sixty_four(64, 'x');
  std::string two_byte_overflow;
  for (int i = 0; i < 32; ++i) two_byte_overflow += "\xc3\xa9";  // 64 bytes
  for (const std::string& body :
       {json::serialize(json::object{{"display_name", ""}}),
        json::serialize(json::object{{"display_name", sixty_four + "y"}}),
        json::serialize(json::object{{"display_name", two_byte_overflow + "e"}}),
        json::serialize(json::object{{"display_name", 42}}),
        json::serialize(json::object{{"display_name", nullptr}}), json::serialize(json::object{}),
        std::string("[\"display_name\"]"), std::string("{\"display_name\":"),
        std::string("{\"display_name\":\"\xff\xfe\"}")}) {
    auto r = Patch(body, ann.access_token);
    EXPECT_TRUE(IsHttpError(r, 400, "bad_request")) << body;
  }
  EXPECT_EQ(GetString(Get("/v1/me", ann.access_token).json, "display_name"), before);
  // Exactly 64 bytes, of one- or two-byte characters, are fine.
  for (const std::string& ok : {sixty_four, two_byte_overflow}) {
    auto r = Patch(json::serialize(json::object{{"display_name", ok}}), ann.access_token);
    EXPECT_EQ(r.status, 200) << r.Describe();
    EXPECT_EQ(GetString(r.json, "display_name"), ok);
  }
  EXPECT_TRUE(
      IsHttpError(http().Request("PATCH", "/v1/me", json::serialize(json::object{{"display_name", "x"}})),
                  401, "unauthorized"));
}

}  // namespace
}  // namespace parley::testing
