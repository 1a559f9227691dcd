// The store's promises for PROTOCOL.md §7 (roles, ownership passing on,
// bans, a group's title and topic, invites, blocks), one case per rule, run
// for every backend with the rest of StoreContract.
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "store_contract.h"

namespace parley::store::contract {
namespace {

using ::testing::IsEmpty;

constexpr int64_t kRoomy = 1000;  // a member limit no case here reaches

}  // namespace

// The role `user` holds in `conv`, nullopt when not a member.
#define EXPECT_ROLE(conv, user, expected)                                  \
  do {                                                                     \
    Result<std::optional<Role>> expect_role = store_->GetRole(conv, user); \
    ASSERT_OK(expect_role);                                                \
    EXPECT_EQ(*expect_role, std::optional<Role>(expected));                \
  } while (0)

TEST_P(StoreContract, NewMemberStartsReadAtTheLastSeq) {
  UserId owner = NewUser("owner");
  UserId late = NewUser("late");
  ConversationId g = NewGroup(owner, {});
  Send(g, owner, "a");
  Send(g, owner, "b");
  ASSERT_OK(store_->AddMember(g, late, Role::kMember));
  Result<Conversation> seen = store_->GetConversation(g, late);
  ASSERT_OK(seen);
  EXPECT_EQ(seen->read_seq, 2);
  EXPECT_EQ(seen->unread(), 0) << "older history is readable, not unread";
  Send(g, owner, "c");
  seen = store_->GetConversation(g, late);
  ASSERT_OK(seen);
  EXPECT_EQ(seen->unread(), 1);
  Result<std::vector<Message>> history = store_->History(g, std::nullopt, std::nullopt, 10, late);
  ASSERT_OK(history);
  EXPECT_EQ(history->size(), 3u);
}

TEST_P(StoreContract, OwnerLeavingPassesOwnershipToTheAdminWhoJoinedFirst) {
  UserId owner = NewUser("owner");
  UserId early_member = NewUser("early");
  UserId admin_b = NewUser("adminb");
  UserId admin_a = NewUser("admina");
  ConversationId g = NewGroup(owner, {early_member});
  ASSERT_OK(store_->AddMember(g, admin_b, Role::kMember));
  ASSERT_OK(store_->AddMember(g, admin_a, Role::kMember));
  // admin_a has the lower id but joined later than admin_b.
  ASSERT_OK(store_->SetRole(g, admin_a, Role::kAdmin));
  ASSERT_OK(store_->SetRole(g, admin_b, Role::kAdmin));

  Result<bool> left = store_->RemoveMember(g, owner);
  ASSERT_OK(left);
  EXPECT_TRUE(*left);
  EXPECT_ROLE(g, admin_b, Role::kOwner);
  EXPECT_ROLE(g, admin_a, Role::kAdmin);
  EXPECT_ROLE(g, early_member, Role::kMember);
  Result<std::optional<UserId>> now_owner = store_->Owner(g);
  ASSERT_OK(now_owner);
  EXPECT_EQ(*now_owner, std::optional<UserId>(admin_b));
}

TEST_P(StoreContract, OwnerLeavingWithoutAdminsPassesOwnershipToTheMemberWhoJoinedFirst) {
  UserId owner = NewUser("owner");
  UserId second = NewUser("second");
  UserId first = NewUser("first");
  ConversationId g = NewGroup(owner, {});
  ASSERT_OK(store_->AddMember(g, first, Role::kMember));
  ASSERT_OK(store_->AddMember(g, second, Role::kMember));
  ASSERT_OK(store_->RemoveMember(g, owner));
  EXPECT_ROLE(g, first, Role::kOwner);
  EXPECT_ROLE(g, second, Role::kMember);

  // The last one to leave leaves no owner behind.
  ASSERT_OK(store_->RemoveMember(g, second));
  ASSERT_OK(store_->RemoveMember(g, first));
  Result<std::optional<UserId>> nobody = store_->Owner(g);
  ASSERT_OK(nobody);
  EXPECT_EQ(*nobody, std::nullopt);
  EXPECT_ERRC(store_->Owner(ConversationId(777777)), Errc::kNotFound);
}

TEST_P(StoreContract, SetRoleMovesBetweenAdminAndMemberOnly) {
  UserId owner = NewUser("owner");
  UserId m = NewUser("m");
  UserId outsider = NewUser("outsider");
  ConversationId g = NewGroup(owner, {m});
  ASSERT_OK(store_->SetRole(g, m, Role::kAdmin));
  EXPECT_ROLE(g, m, Role::kAdmin);
  ASSERT_OK(store_->SetRole(g, m, Role::kMember));
  EXPECT_ROLE(g, m, Role::kMember);

  EXPECT_ERRC(store_->SetRole(g, m, Role::kOwner), Errc::kBadRequest);
  EXPECT_ERRC(store_->SetRole(g, owner, Role::kAdmin), Errc::kForbidden);
  EXPECT_ERRC(store_->SetRole(g, outsider, Role::kAdmin), Errc::kNotFound);
  EXPECT_ERRC(store_->SetRole(ConversationId(777777), m, Role::kAdmin), Errc::kNotFound);
  EXPECT_ROLE(g, owner, Role::kOwner);
  EXPECT_ROLE(g, m, Role::kMember);
  EXPECT_ROLE(g, outsider, std::nullopt);
}

TEST_P(StoreContract, TransferOwnershipSwapsOwnerAndAdmin) {
  UserId owner = NewUser("owner");
  UserId m = NewUser("m");
  UserId outsider = NewUser("outsider");
  ConversationId g = NewGroup(owner, {m});

  EXPECT_ERRC(store_->TransferOwnership(g, owner, outsider), Errc::kNotFound);
  EXPECT_ERRC(store_->TransferOwnership(g, m, owner), Errc::kForbidden);
  EXPECT_ERRC(store_->TransferOwnership(g, owner, owner), Errc::kBadRequest);
  EXPECT_ROLE(g, owner, Role::kOwner);
  EXPECT_ROLE(g, m, Role::kMember);

  ASSERT_OK(store_->TransferOwnership(g, owner, m));
  EXPECT_ROLE(g, m, Role::kOwner);
  EXPECT_ROLE(g, owner, Role::kAdmin);
  EXPECT_ERRC(store_->TransferOwnership(g, owner, m), Errc::kForbidden);  // no longer the owner
}

TEST_P(StoreContract, BanRemovesAndKeepsOutUntilUnbanned) {
  UserId owner = NewUser("owner");
  UserId m = NewUser("m");
  UserId never = NewUser("never");
  ConversationId g = NewGroup(owner, {m});

  Result<bool> was_member = store_->Ban(g, m, owner, now_++);
  ASSERT_OK(was_member);
  EXPECT_TRUE(*was_member);
  EXPECT_ROLE(g, m, std::nullopt);
  Result<Conversation> conv = store_->GetConversation(g, owner);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->member_count, 1);
  EXPECT_ERRC(store_->AddMember(g, m, Role::kMember), Errc::kForbidden);
  EXPECT_ROLE(g, m, std::nullopt);

  // A ban of a non-member keeps them out before they ever join.
  was_member = store_->Ban(g, never, owner, now_++);
  ASSERT_OK(was_member);
  EXPECT_FALSE(*was_member);
  ASSERT_OK(store_->CreateInvite(Invite{"code-ban", g, std::nullopt, 0, now_ + 60'000}, owner, now_));
  EXPECT_ERRC(store_->JoinByInvite("code-ban", never, now_, kRoomy), Errc::kForbidden);
  EXPECT_ROLE(g, never, std::nullopt);

  Result<bool> lifted = store_->Unban(g, m);
  ASSERT_OK(lifted);
  EXPECT_TRUE(*lifted);
  lifted = store_->Unban(g, m);
  ASSERT_OK(lifted);
  EXPECT_FALSE(*lifted);
  ASSERT_OK(store_->AddMember(g, m, Role::kMember));
  EXPECT_ROLE(g, m, Role::kMember);
  EXPECT_ERRC(store_->Ban(ConversationId(777777), m, owner, now_), Errc::kNotFound);
}

TEST_P(StoreContract, UpdateGroupSetsTitleAndTopic) {
  UserId owner = NewUser("owner");
  UserId peer = NewUser("peer");
  ConversationId g = NewGroup(owner, {}, "before");
  Result<Conversation> conv = store_->GetConversation(g, owner);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->topic, std::optional<std::string>("")) << "a group's topic is empty until set";

  ASSERT_OK(store_->UpdateGroup(g, std::nullopt, std::string("the topic")));
  ASSERT_OK(store_->UpdateGroup(g, std::string("after"), std::nullopt));
  conv = store_->GetConversation(g, owner);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->title, std::optional<std::string>("after"));
  EXPECT_EQ(conv->topic, std::optional<std::string>("the topic"));
  Result<std::vector<Conversation>> listed = store_->ListConversations(owner);
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].topic, std::optional<std::string>("the topic"));

  Result<ConversationId> dm = store_->GetOrCreateDm(owner, peer, now_++);
  ASSERT_OK(dm);
  EXPECT_ERRC(store_->UpdateGroup(*dm, std::string("x"), std::nullopt), Errc::kBadRequest);
  Result<Conversation> dm_conv = store_->GetConversation(*dm, owner);
  ASSERT_OK(dm_conv);
  EXPECT_EQ(dm_conv->title, std::nullopt);
  EXPECT_EQ(dm_conv->topic, std::nullopt);
  EXPECT_ERRC(store_->UpdateGroup(ConversationId(777777), std::string("x"), std::nullopt), Errc::kNotFound);
}

TEST_P(StoreContract, InviteJoinsUntilMaxUses) {
  UserId owner = NewUser("owner");
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId c = NewUser("c");
  ConversationId g = NewGroup(owner, {});
  Send(g, owner, "x");
  ASSERT_OK(store_->CreateInvite(Invite{"two-uses", g, 2, 0, now_ + 60'000}, owner, now_));
  EXPECT_ERRC(store_->CreateInvite(Invite{"two-uses", g, 2, 0, now_ + 60'000}, owner, now_), Errc::kConflict);
  EXPECT_ERRC(
      store_->CreateInvite(Invite{"nowhere", ConversationId(777777), 2, 0, now_ + 60'000}, owner, now_),
      Errc::kNotFound);

  Result<InviteJoin> joined = store_->JoinByInvite("two-uses", a, now_, kRoomy);
  ASSERT_OK(joined);
  EXPECT_EQ(joined->conv, g);
  EXPECT_TRUE(joined->added);
  Result<Conversation> seen = store_->GetConversation(g, a);
  ASSERT_OK(seen);
  EXPECT_EQ(seen->read_seq, 1) << "joined at the group's last_seq";
  // A member using it again is not added and uses nothing.
  joined = store_->JoinByInvite("two-uses", a, now_, kRoomy);
  ASSERT_OK(joined);
  EXPECT_FALSE(joined->added);
  joined = store_->JoinByInvite("two-uses", b, now_, kRoomy);
  ASSERT_OK(joined);
  EXPECT_TRUE(joined->added);
  EXPECT_ERRC(store_->JoinByInvite("two-uses", c, now_, kRoomy), Errc::kNotFound);  // used up
  EXPECT_ROLE(g, c, std::nullopt);
  seen = store_->GetConversation(g, owner);
  ASSERT_OK(seen);
  EXPECT_EQ(seen->member_count, 3);
}

TEST_P(StoreContract, InviteJoinStopsAtTheMemberLimit) {
  UserId owner = NewUser("owner");
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g = NewGroup(owner, {a});
  ASSERT_OK(store_->CreateInvite(Invite{"full", g, std::nullopt, 0, now_ + 60'000}, owner, now_));
  EXPECT_ERRC(store_->JoinByInvite("full", b, now_, 2), Errc::kBadRequest);
  EXPECT_ROLE(g, b, std::nullopt);
  // A member already in is not turned away by a full group, and uses nothing.
  Result<InviteJoin> again = store_->JoinByInvite("full", a, now_, 2);
  ASSERT_OK(again);
  EXPECT_FALSE(again->added);
  Result<InviteJoin> joined = store_->JoinByInvite("full", b, now_, 3);
  ASSERT_OK(joined);
  EXPECT_TRUE(joined->added);
  Result<Conversation> conv = store_->GetConversation(g, owner);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->member_count, 3);
}

TEST_P(StoreContract, ExpiredOrDeletedInviteIsNotFound) {
  UserId owner = NewUser("owner");
  UserId a = NewUser("a");
  ConversationId g = NewGroup(owner, {});
  ASSERT_OK(store_->CreateInvite(Invite{"short", g, std::nullopt, 0, now_ + 1000}, owner, now_));
  EXPECT_ERRC(store_->JoinByInvite("short", a, now_ + 1000, kRoomy), Errc::kNotFound);
  EXPECT_ERRC(store_->JoinByInvite("unknown", a, now_, kRoomy), Errc::kNotFound);

  ASSERT_OK(store_->CreateInvite(Invite{"gone", g, std::nullopt, 0, now_ + 60'000}, owner, now_));
  Result<bool> deleted = store_->DeleteInvite(ConversationId(777777), "gone");
  ASSERT_OK(deleted);
  EXPECT_FALSE(*deleted) << "an invite is deleted only through its own conversation";
  deleted = store_->DeleteInvite(g, "gone");
  ASSERT_OK(deleted);
  EXPECT_TRUE(*deleted);
  EXPECT_ERRC(store_->JoinByInvite("gone", a, now_, kRoomy), Errc::kNotFound);
  EXPECT_ROLE(g, a, std::nullopt);
}

TEST_P(StoreContract, BlocksAreListedAndFound) {
  UserId alice = NewUser("alice");
  UserId bob = NewUser("bob");
  UserId carol = NewUser("carol");
  ASSERT_OK(store_->Block(alice, carol, now_++));
  ASSERT_OK(store_->Block(alice, bob, now_++));
  ASSERT_OK(store_->Block(alice, bob, now_++));  // again: nothing changes
  Result<std::vector<User>> blocked = store_->ListBlocked(alice);
  ASSERT_OK(blocked);
  ASSERT_EQ(blocked->size(), 2u);
  EXPECT_EQ((*blocked)[0].id, bob);
  EXPECT_EQ((*blocked)[1].id, carol);
  Result<std::vector<User>> none = store_->ListBlocked(bob);
  ASSERT_OK(none);
  EXPECT_THAT(*none, IsEmpty());

  std::vector<UserId> alice_and_carol{carol, alice};
  Result<bool> any = store_->AnyBlocks(alice_and_carol, bob);
  ASSERT_OK(any);
  EXPECT_TRUE(*any);
  std::vector<UserId> bob_only{bob};
  any = store_->AnyBlocks(bob_only, alice);
  ASSERT_OK(any);
  EXPECT_FALSE(*any) << "a block goes one way";

  EXPECT_ERRC(store_->Block(alice, alice, now_), Errc::kBadRequest);
  EXPECT_ERRC(store_->Block(alice, UserId(777777), now_), Errc::kNotFound);
  Result<bool> lifted = store_->Unblock(alice, bob);
  ASSERT_OK(lifted);
  EXPECT_TRUE(*lifted);
  lifted = store_->Unblock(alice, bob);
  ASSERT_OK(lifted);
  EXPECT_FALSE(*lifted);
  any = store_->AnyBlocks(alice_and_carol, bob);
  ASSERT_OK(any);
  EXPECT_FALSE(*any);
}

TEST_P(StoreContract, BlockedUserCannotSendIntoTheDmButTheBlockerCan) {
  UserId alice = NewUser("alice");
  UserId bob = NewUser("bob");
  Result<ConversationId> dm = store_->GetOrCreateDm(alice, bob, now_++);
  ASSERT_OK(dm);
  ConversationId g = NewGroup(alice, {bob});
  ASSERT_OK(store_->Block(alice, bob, now_++));

  const int64_t before = store_->GetConversation(*dm, alice)->last_seq;
  EXPECT_ERRC(Commit(Text(*dm, bob, "from-bob")), Errc::kForbidden);
  EXPECT_EQ(store_->GetConversation(*dm, alice)->last_seq, before) << "no seq used";
  Result<Committed> from_alice = Commit(Text(*dm, alice, "from-alice"));
  ASSERT_OK(from_alice);
  EXPECT_EQ(from_alice->message.seq, before + 1);
  Result<Committed> in_group = Commit(Text(g, bob, "group-bob"));
  ASSERT_OK(in_group);  // a block reaches only the DM

  ASSERT_OK(store_->Unblock(alice, bob));
  Result<Committed> after = Commit(Text(*dm, bob, "from-bob-again"));
  ASSERT_OK(after);
}

}  // namespace parley::store::contract
