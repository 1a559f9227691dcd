// chat::Service's rules of PROTOCOL.md §7 (roles, ownership, bans, group
// settings, invites, blocks) over a real SQLite store: each allowed change
// with its events, and each forbidden one refused with a clear error and
// nothing changed.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "chat/service.h"
#include "chat/service_fixture.h"

namespace parley::chat {
namespace {
namespace json = boost::json;

class GroupsTest : public ServiceFixture {
 protected:
  void SetUp() override {
    StartService(sink_, Options{});
    alice_ = Register("alice").user.id;  // the owner of group_
    bob_ = Register("bob").user.id;      // an admin of group_
    carol_ = Register("carol").user.id;  // a member of group_
    dave_ = Register("dave").user.id;    // not a member
    auto g = service_->CreateGroup(alice_, "team", {"bob", "carol"});
    ASSERT_TRUE(g) << g.error().message;
    group_ = g->id;
    ASSERT_TRUE(service_->SetRole(alice_, group_, "bob", Role::kAdmin));
    sink_.events.clear();
  }

  std::optional<Role> RoleOf(UserId user) { return store_->GetRole(group_, user).value(); }
  Conversation Group(UserId viewer) { return store_->GetConversation(group_, viewer).value(); }

  // The `member` events published, as (user, action, role or "").
  std::vector<std::tuple<std::string, std::string, std::string>> MemberEvents() {
    std::vector<std::tuple<std::string, std::string, std::string>> out;
    for (json::object& f : sink_.Frames("member")) {
      std::string role = f.contains("role") ? std::string(f["role"].as_string()) : "";
      out.emplace_back(std::string(f["user"].as_string()), std::string(f["action"].as_string()), role);
    }
    return out;
  }

  // `r` failed with `code` and published nothing.
  template <class R>
  void ExpectRefused(const R& r, Errc code) {
    ASSERT_FALSE(r) << "succeeded; expected " << ErrcName(code);
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_TRUE(sink_.events.empty()) << "a refused change publishes nothing";
  }

  RecordingSink sink_;
  UserId alice_, bob_, carol_, dave_;
  ConversationId group_;
};

std::string S(UserId u) { return u.ToString(); }

// --- roles -----------------------------------------------------------------------

TEST_F(GroupsTest, OwnerSetsRolesAndMembersHearOfIt) {
  ASSERT_TRUE(service_->SetRole(alice_, group_, "carol", Role::kAdmin));
  EXPECT_EQ(RoleOf(carol_), Role::kAdmin);
  using T = std::tuple<std::string, std::string, std::string>;
  EXPECT_EQ(MemberEvents(), std::vector<T>{T(S(carol_), "role", "admin")});
  sink_.events.clear();
  ASSERT_TRUE(service_->SetRole(alice_, group_, "carol", Role::kAdmin));
  EXPECT_TRUE(sink_.events.empty()) << "no change, no event";
  ASSERT_TRUE(service_->SetRole(alice_, group_, "carol", Role::kMember));
  EXPECT_EQ(RoleOf(carol_), Role::kMember);
}

TEST_F(GroupsTest, OnlyTheOwnerSetsRoles) {
  ExpectRefused(service_->SetRole(carol_, group_, "carol", Role::kAdmin), Errc::kForbidden);
  ExpectRefused(service_->SetRole(bob_, group_, "carol", Role::kAdmin), Errc::kForbidden);
  ExpectRefused(service_->SetRole(dave_, group_, "carol", Role::kAdmin), Errc::kForbidden);
  EXPECT_EQ(RoleOf(carol_), Role::kMember);
}

TEST_F(GroupsTest, TheOwnerCannotDemoteThemselvesWithoutATransfer) {
  ExpectRefused(service_->SetRole(alice_, group_, "alice", Role::kMember), Errc::kForbidden);
  ExpectRefused(service_->SetRole(alice_, group_, "alice", Role::kAdmin), Errc::kForbidden);
  ExpectRefused(service_->SetRole(alice_, group_, "carol", Role::kOwner), Errc::kBadRequest);
  EXPECT_EQ(RoleOf(alice_), Role::kOwner);
  EXPECT_EQ(RoleOf(carol_), Role::kMember);
}

TEST_F(GroupsTest, RolesOfNonMembersAndInDmsAreRefused) {
  ExpectRefused(service_->SetRole(alice_, group_, "dave", Role::kAdmin), Errc::kNotFound);
  ExpectRefused(service_->SetRole(alice_, group_, "ghost", Role::kAdmin), Errc::kNotFound);
  auto dm = service_->OpenDm(alice_, "dave");
  ASSERT_TRUE(dm);
  sink_.events.clear();
  ExpectRefused(service_->SetRole(alice_, dm->id, "dave", Role::kAdmin), Errc::kBadRequest);
  EXPECT_EQ(RoleOf(dave_), std::nullopt);
}

TEST_F(GroupsTest, TransferMakesANewOwnerAndTheOldOneAnAdmin) {
  ASSERT_TRUE(service_->Transfer(alice_, group_, "carol"));
  EXPECT_EQ(RoleOf(carol_), Role::kOwner);
  EXPECT_EQ(RoleOf(alice_), Role::kAdmin);
  using T = std::tuple<std::string, std::string, std::string>;
  EXPECT_EQ(MemberEvents(), (std::vector<T>{T(S(carol_), "role", "owner"), T(S(alice_), "role", "admin")}));
}

TEST_F(GroupsTest, ForbiddenTransfersChangeNothing) {
  ExpectRefused(service_->Transfer(alice_, group_, "dave"), Errc::kNotFound);  // not a member
  ExpectRefused(service_->Transfer(bob_, group_, "carol"), Errc::kForbidden);  // an admin
  ExpectRefused(service_->Transfer(carol_, group_, "carol"), Errc::kForbidden);
  ExpectRefused(service_->Transfer(alice_, group_, "alice"), Errc::kBadRequest);
  EXPECT_EQ(RoleOf(alice_), Role::kOwner);
  EXPECT_EQ(RoleOf(bob_), Role::kAdmin);
  EXPECT_EQ(RoleOf(carol_), Role::kMember);
}

TEST_F(GroupsTest, OwnershipPassesToTheFirstAdminWhenTheOwnerLeaves) {
  ASSERT_TRUE(service_->Leave(alice_, group_));
  EXPECT_EQ(RoleOf(bob_), Role::kOwner);
  using T = std::tuple<std::string, std::string, std::string>;
  EXPECT_EQ(MemberEvents(), (std::vector<T>{T(S(alice_), "left", ""), T(S(bob_), "role", "owner")}));
  // Then to the member who joined first, once no admin is left.
  sink_.events.clear();
  ASSERT_TRUE(service_->Leave(bob_, group_));
  EXPECT_EQ(RoleOf(carol_), Role::kOwner);
}

TEST_F(GroupsTest, OwnershipPassesOnWhenTheOwnerDeletesTheAccount) {
  ASSERT_TRUE(service_->DeleteAccount(alice_, "password1"));
  EXPECT_EQ(RoleOf(bob_), Role::kOwner);
  using T = std::tuple<std::string, std::string, std::string>;
  EXPECT_EQ(MemberEvents(), (std::vector<T>{T(S(alice_), "left", ""), T(S(bob_), "role", "owner")}));
}

// --- bans ----------------------------------------------------------------------------

TEST_F(GroupsTest, BanRemovesTellsTheBannedUserAndKeepsThemOut) {
  ASSERT_TRUE(service_->Ban(bob_, group_, "carol"));  // an admin bans a member
  EXPECT_EQ(RoleOf(carol_), std::nullopt);
  using T = std::tuple<std::string, std::string, std::string>;
  EXPECT_EQ(MemberEvents(), std::vector<T>{T(S(carol_), "banned", "")});
  // Delivered to the members (the banned user still follows the group when
  // it goes out), then carol's connections stop following.
  ASSERT_EQ(sink_.events.size(), 2u);
  EXPECT_EQ(sink_.events[0].target, fanout::Event::Target::kConversation);
  EXPECT_EQ(sink_.events[1].subscription, fanout::Event::Subscription::kUnsubscribe);
  EXPECT_EQ(sink_.events[1].users, std::vector<UserId>{carol_});

  sink_.events.clear();
  ExpectRefused(service_->AddMember(alice_, group_, "carol"), Errc::kForbidden);
  EXPECT_EQ(RoleOf(carol_), std::nullopt);
  ASSERT_TRUE(service_->Unban(bob_, group_, "carol"));
  ASSERT_TRUE(service_->AddMember(alice_, group_, "carol"));
  EXPECT_EQ(RoleOf(carol_), Role::kMember);
}

TEST_F(GroupsTest, ForbiddenBansChangeNothing) {
  ASSERT_TRUE(service_->SetRole(alice_, group_, "carol", Role::kAdmin));
  sink_.events.clear();
  ExpectRefused(service_->Ban(bob_, group_, "alice"), Errc::kForbidden);     // an admin on the owner
  ExpectRefused(service_->Ban(bob_, group_, "carol"), Errc::kForbidden);     // an admin on an admin
  ExpectRefused(service_->Ban(alice_, group_, "alice"), Errc::kBadRequest);  // oneself
  ExpectRefused(service_->Ban(bob_, group_, "bob"), Errc::kBadRequest);
  ExpectRefused(service_->Ban(dave_, group_, "carol"), Errc::kForbidden);  // not a member
  ExpectRefused(service_->Ban(alice_, group_, "ghost"), Errc::kNotFound);
  ExpectRefused(service_->Unban(alice_, group_, "dave"), Errc::kNotFound);  // not banned
  EXPECT_EQ(Group(alice_).member_count, 3);
  EXPECT_EQ(RoleOf(carol_), Role::kAdmin);

  ASSERT_TRUE(service_->SetRole(alice_, group_, "carol", Role::kMember));
  sink_.events.clear();
  auto member_bans = service_->Ban(carol_, group_, "bob");
  ExpectRefused(member_bans, Errc::kForbidden);
  ExpectRefused(service_->Unban(carol_, group_, "dave"), Errc::kForbidden);
}

TEST_F(GroupsTest, ABannedNonMemberCannotJoinByInvite) {
  ASSERT_TRUE(service_->Ban(alice_, group_, "dave"));
  EXPECT_TRUE(sink_.events.empty()) << "nobody to tell";
  auto invite = service_->CreateInvite(alice_, group_, std::nullopt, std::nullopt);
  ASSERT_TRUE(invite);
  ExpectRefused(service_->JoinByInvite(dave_, invite->code), Errc::kForbidden);
  EXPECT_EQ(RoleOf(dave_), std::nullopt);
}

// --- settings --------------------------------------------------------------------------

TEST_F(GroupsTest, UpdateGroupChangesTitleAndTopicAndTellsTheMembers) {
  ASSERT_TRUE(service_->UpdateGroup(bob_, group_, std::nullopt, std::string("plans")));
  ASSERT_TRUE(service_->UpdateGroup(alice_, group_, std::string("renamed"), std::nullopt));
  Conversation c = Group(carol_);
  EXPECT_EQ(c.title, std::optional<std::string>("renamed"));
  EXPECT_EQ(c.topic, std::optional<std::string>("plans"));
  auto updates = sink_.Frames("group_updated");
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[1]["title"], "renamed");
  EXPECT_EQ(updates[1]["topic"], "plans");
  EXPECT_EQ(updates[1]["by"], json::value(S(alice_)));
  EXPECT_EQ(updates[1]["conv"], json::value(group_.ToString()));
}

TEST_F(GroupsTest, BadGroupUpdatesChangeNothing) {
  ExpectRefused(service_->UpdateGroup(carol_, group_, std::string("mine"), std::nullopt), Errc::kForbidden);
  ExpectRefused(service_->UpdateGroup(alice_, group_, std::string(""), std::nullopt), Errc::kBadRequest);
  ExpectRefused(service_->UpdateGroup(alice_, group_, std::string(201, 't'), std::nullopt),
                Errc::kBadRequest);
  ExpectRefused(service_->UpdateGroup(alice_, group_, std::nullopt, std::string(501, 't')),
                Errc::kBadRequest);
  ExpectRefused(service_->UpdateGroup(alice_, group_, std::nullopt, std::string("\xff")), Errc::kBadRequest);
  ExpectRefused(service_->UpdateGroup(alice_, group_, std::nullopt, std::nullopt), Errc::kBadRequest);
  Conversation c = Group(alice_);
  EXPECT_EQ(c.title, std::optional<std::string>("team"));
  EXPECT_EQ(c.topic, std::optional<std::string>(""));
  ASSERT_TRUE(service_->UpdateGroup(alice_, group_, std::nullopt, std::string(500, 't')));
}

// --- invites ---------------------------------------------------------------------------

TEST_F(GroupsTest, InviteJoinsWithReadAtTheLastSeqUntilUsedUp) {
  ASSERT_TRUE(service_->Send(alice_, protocol::SendReq{group_, "m1", "hello"}, log::Origin{1, 0, 7, 1}));
  Drain();
  auto invite = service_->CreateInvite(bob_, group_, 1, 60);
  ASSERT_TRUE(invite) << invite.error().message;
  EXPECT_EQ(invite->max_uses, std::optional<int64_t>(1));
  EXPECT_EQ(invite->expires_at, clock_.NowMs() + 60'000);
  EXPECT_GE(invite->code.size(), 32u);
  sink_.events.clear();

  auto joined = service_->JoinByInvite(dave_, invite->code);
  ASSERT_TRUE(joined) << joined.error().message;
  EXPECT_EQ(joined->id, group_);
  EXPECT_EQ(joined->read_seq, 1);
  EXPECT_EQ(joined->unread(), 0);
  using T = std::tuple<std::string, std::string, std::string>;
  EXPECT_EQ(MemberEvents(), (std::vector<T>{T(S(dave_), "added", ""), T(S(dave_), "added", "")}));

  auto eve = Register("eve").user.id;
  sink_.events.clear();
  ExpectRefused(service_->JoinByInvite(eve, invite->code), Errc::kNotFound);  // used up
  EXPECT_EQ(store_->GetRole(group_, eve).value(), std::nullopt);
}

// A code is typed on command lines (`parley group join CODE`), where one
// starting with '-' reads as an option: none does (1 in 64 random codes
// would, so 500 of them find the old way out nearly always).
TEST_F(GroupsTest, InviteCodesNeverStartWithADash) {
  for (int i = 0; i < 500; ++i) {
    auto invite = service_->CreateInvite(bob_, group_, std::nullopt, 60);
    ASSERT_TRUE(invite) << invite.error().message;
    ASSERT_NE(invite->code.front(), '-') << invite->code;
  }
}

TEST_F(GroupsTest, ExpiredOrRevokedInvitesAreNotFound) {
  auto invite = service_->CreateInvite(alice_, group_, std::nullopt, 10);
  ASSERT_TRUE(invite);
  clock_.Advance(10'000);
  ExpectRefused(service_->JoinByInvite(dave_, invite->code), Errc::kNotFound);

  auto other = service_->CreateInvite(alice_, group_, std::nullopt, std::nullopt);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->expires_at, clock_.NowMs() + 7LL * 24 * 3600 * 1000) << "7 days by default";
  ExpectRefused(service_->DeleteInvite(carol_, group_, other->code), Errc::kForbidden);
  ASSERT_TRUE(service_->DeleteInvite(bob_, group_, other->code));
  ExpectRefused(service_->DeleteInvite(bob_, group_, other->code), Errc::kNotFound);
  ExpectRefused(service_->JoinByInvite(dave_, other->code), Errc::kNotFound);
  ExpectRefused(service_->JoinByInvite(dave_, "no-such-code"), Errc::kNotFound);
  EXPECT_EQ(RoleOf(dave_), std::nullopt);
}

TEST_F(GroupsTest, BadInvitesAreRefused) {
  ExpectRefused(service_->CreateInvite(carol_, group_, std::nullopt, std::nullopt), Errc::kForbidden);
  ExpectRefused(service_->CreateInvite(dave_, group_, std::nullopt, std::nullopt), Errc::kForbidden);
  ExpectRefused(service_->CreateInvite(alice_, group_, 0, std::nullopt), Errc::kBadRequest);
  ExpectRefused(service_->CreateInvite(alice_, group_, std::nullopt, 0), Errc::kBadRequest);
  ExpectRefused(service_->CreateInvite(alice_, ConversationId(999999), std::nullopt, std::nullopt),
                Errc::kNotFound);
}

// --- blocks ----------------------------------------------------------------------------

TEST_F(GroupsTest, ABlockedUserCannotReachTheBlocker) {
  auto existing = service_->OpenDm(carol_, "alice");
  ASSERT_TRUE(existing);
  ASSERT_TRUE(service_->Block(alice_, "carol"));
  ASSERT_TRUE(service_->Block(alice_, "dave"));
  sink_.events.clear();

  // No new DM, no group naming the blocker, no adding the blocker.
  ExpectRefused(service_->OpenDm(dave_, "alice"), Errc::kForbidden);
  ExpectRefused(service_->CreateGroup(dave_, "x", {"bob", "alice"}), Errc::kForbidden);
  auto g = service_->CreateGroup(dave_, "y", {"bob"});
  ASSERT_TRUE(g);
  sink_.events.clear();
  ExpectRefused(service_->AddMember(dave_, g->id, "alice"), Errc::kForbidden);
  // The refusals say nothing of a block.
  auto refused = service_->OpenDm(dave_, "alice");
  EXPECT_EQ(refused.error().message.find("block"), std::string::npos);

  // The DM that exists is still carol's to open, but she cannot send into it;
  // alice can.
  auto again = service_->OpenDm(carol_, "alice");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, existing->id);
  ASSERT_TRUE(service_->Send(carol_, protocol::SendReq{existing->id, "c1", "hi"}, log::Origin{1, 0, 7, 5}));
  sink_.events.clear();
  Drain();
  auto errors = sink_.Frames("error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["code"], "forbidden");
  EXPECT_TRUE(sink_.Frames("message").empty());
  ASSERT_TRUE(service_->Send(alice_, protocol::SendReq{existing->id, "a1", "hi"}, log::Origin{1, 0, 7, 6}));
  sink_.events.clear();
  Drain();
  EXPECT_EQ(sink_.Frames("message").size(), 1u);

  // Others are not affected, and unblocking lifts it all.
  ASSERT_TRUE(service_->OpenDm(bob_, "alice"));
  ASSERT_TRUE(service_->Unblock(alice_, "dave"));
  ASSERT_TRUE(service_->OpenDm(dave_, "alice"));
}

TEST_F(GroupsTest, BlocksAreListedAndBadBlocksRefused) {
  ASSERT_TRUE(service_->Block(alice_, "dave"));
  ASSERT_TRUE(service_->Block(alice_, "bob"));
  auto blocked = service_->Blocked(alice_);
  ASSERT_TRUE(blocked);
  ASSERT_EQ(blocked->size(), 2u);
  EXPECT_EQ((*blocked)[0].username, "bob");
  EXPECT_EQ((*blocked)[1].username, "dave");
  EXPECT_TRUE(service_->Blocked(dave_)->empty()) << "invisible to the blocked user";

  ExpectRefused(service_->Block(alice_, "alice"), Errc::kBadRequest);
  ExpectRefused(service_->Block(alice_, "ghost"), Errc::kNotFound);
  ExpectRefused(service_->Unblock(alice_, "ghost"), Errc::kNotFound);
  EXPECT_EQ(service_->Blocked(alice_)->size(), 2u);
  ASSERT_TRUE(service_->Unblock(alice_, "bob"));
  ASSERT_TRUE(service_->Unblock(alice_, "bob")) << "unblocking again changes nothing";
  EXPECT_EQ(service_->Blocked(alice_)->size(), 1u);
}

}  // namespace
}  // namespace parley::chat
