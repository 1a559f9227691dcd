// The store's promises for the account calls of PROTOCOL.md §7 (logout
// everywhere, the profile, the data export), run for every backend with
// the rest of StoreContract.
#include <string>
#include <vector>

#include "store_contract.h"

namespace parley::store::contract {

TEST_P(StoreContract, RevokeAllTokensBumpsTheEpochAndEndsEveryFamily) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ASSERT_OK(store_->PutRefreshToken("a1", a, 10'000, "f1"));
  ASSERT_OK(store_->PutRefreshToken("a2", a, 10'000, "f2"));
  ASSERT_OK(store_->PutRefreshToken("b1", b, 10'000, "f3"));

  Result<int64_t> epoch = store_->RevokeAllTokens(a);
  ASSERT_OK(epoch);
  EXPECT_EQ(*epoch, 1);
  Result<AuthState> state = store_->GetAuthState(a);
  ASSERT_OK(state);
  EXPECT_EQ(state->token_epoch, 1);
  EXPECT_FALSE(state->deleted);
  // The password stays; every family of the user is gone; b is untouched.
  Result<UserRecord> rec = store_->FindUserByName("a");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->password_hash, "hash-a");
  EXPECT_ERRC(store_->TakeRefreshToken("a1", 100), Errc::kUnauthorized);
  EXPECT_ERRC(store_->TakeRefreshToken("a2", 100), Errc::kUnauthorized);
  ASSERT_OK(store_->TakeRefreshToken("b1", 100));
  EXPECT_EQ(store_->GetAuthState(b)->token_epoch, 0);
  // A later login's token is revoked by the next call too.
  ASSERT_OK(store_->PutRefreshToken("a3", a, 10'000, "f4"));
  Result<int64_t> second = store_->RevokeAllTokens(a);
  ASSERT_OK(second);
  EXPECT_EQ(*second, 2);
  EXPECT_ERRC(store_->TakeRefreshToken("a3", 100), Errc::kUnauthorized);

  EXPECT_ERRC(store_->RevokeAllTokens(UserId(999'999)), Errc::kNotFound);
  ASSERT_OK(store_->DeleteUser(a, now_));
  EXPECT_ERRC(store_->RevokeAllTokens(a), Errc::kNotFound);
}

TEST_P(StoreContract, SetDisplayNameChangesOnlyThatName) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ASSERT_OK(store_->SetLastSeen(a, 777));
  Result<User> changed = store_->SetDisplayName(a, "Ann \xc3\xa9 A.");
  ASSERT_OK(changed);
  EXPECT_EQ(changed->id, a);
  EXPECT_EQ(changed->username, "a");
  EXPECT_EQ(changed->display_name, "Ann \xc3\xa9 A.");
  EXPECT_EQ(changed->last_seen, 777);
  EXPECT_EQ(store_->FindUserById(a)->display_name, "Ann \xc3\xa9 A.");
  Result<UserRecord> rec = store_->FindUserByName("a");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->user.display_name, "Ann \xc3\xa9 A.");
  EXPECT_EQ(rec->password_hash, "hash-a");
  EXPECT_EQ(rec->token_epoch, 0);
  EXPECT_EQ(store_->FindUserById(b)->display_name, "b");
  // Set again: the newest wins.
  ASSERT_OK(store_->SetDisplayName(a, "Ann"));
  EXPECT_EQ(store_->FindUserById(a)->display_name, "Ann");

  EXPECT_ERRC(store_->SetDisplayName(UserId(999'999), "x"), Errc::kNotFound);
  ASSERT_OK(store_->DeleteUser(a, now_));
  EXPECT_ERRC(store_->SetDisplayName(a, "back"), Errc::kNotFound);
}

// The export reaches the user's entries in conversations they no longer
// belong to; a conversation they left without writing in it, or still
// belong to, is not among them.
TEST_P(StoreContract, FormerConversationsAreThoseLeftAfterWriting) {
  UserId a = NewUser("a");
  UserId owner = NewUser("owner");
  ConversationId left = NewGroup(owner, {a}, "left");
  ConversationId banned = NewGroup(owner, {a}, "banned");
  ConversationId silent = NewGroup(owner, {a}, "silent");
  ConversationId stays = NewGroup(owner, {a}, "stays");
  Send(left, a, "l1");
  Send(left, owner, "l2");
  Send(banned, a, "b1");
  Send(stays, a, "s1");
  Result<std::vector<Conversation>> former = store_->FormerConversations(a);
  ASSERT_OK(former);
  EXPECT_TRUE(former->empty()) << "still a member of all four";

  ASSERT_OK(store_->RemoveMember(left, a));
  ASSERT_OK(store_->Ban(banned, a, owner, now_++));
  ASSERT_OK(store_->RemoveMember(silent, a));
  former = store_->FormerConversations(a);
  ASSERT_OK(former);
  ASSERT_EQ(former->size(), 2u);
  EXPECT_EQ((*former)[0].id, left);
  EXPECT_EQ((*former)[0].title, std::optional<std::string>("left"));
  EXPECT_EQ((*former)[0].last_seq, 2);
  EXPECT_EQ((*former)[0].kind, ConversationKind::kGroup);
  EXPECT_TRUE((*former)[0].members.empty());
  EXPECT_EQ((*former)[1].id, banned);

  // Back in: no longer former.
  ASSERT_OK(store_->AddMember(left, a, Role::kMember));
  former = store_->FormerConversations(a);
  ASSERT_OK(former);
  ASSERT_EQ(former->size(), 1u);
  EXPECT_EQ((*former)[0].id, banned);
  Result<std::vector<Conversation>> of_owner = store_->FormerConversations(owner);
  ASSERT_OK(of_owner);
  EXPECT_TRUE(of_owner->empty());
}

TEST_P(StoreContract, BotsHaveAnOwnerAKeyAndALimit) {
  UserId ann = NewUser("ann");
  UserId bob = NewUser("bob");
  Result<User> bot = store_->CreateBot(ann, "helper", "", "hash-1", 2, now_);
  ASSERT_OK(bot);
  EXPECT_TRUE(bot->bot);
  EXPECT_EQ(bot->display_name, "helper") << "the username when no display name is given";
  EXPECT_ERRC(store_->CreateBot(ann, "bob", "", "hash-x", 2, now_), Errc::kConflict);
  ASSERT_OK(store_->CreateBot(ann, "second", "Second", "hash-2", 2, now_));
  EXPECT_ERRC(store_->CreateBot(ann, "third", "", "hash-3", 2, now_), Errc::kBadRequest);
  ASSERT_OK(store_->CreateBot(bob, "bobs", "", "hash-4", 2, now_));  // the limit is per owner

  Result<std::vector<User>> bots = store_->ListBots(ann);
  ASSERT_OK(bots);
  ASSERT_EQ(bots->size(), 2u);
  EXPECT_EQ((*bots)[0].username, "helper");
  EXPECT_EQ((*bots)[1].display_name, "Second");

  Result<UserRecord> by_key = store_->FindUserByApiKey("hash-1");
  ASSERT_OK(by_key);
  EXPECT_EQ(by_key->user.id, bot->id);
  EXPECT_EQ(by_key->bot_owner, ann);
  EXPECT_TRUE(by_key->user.bot);
  EXPECT_ERRC(store_->FindUserByApiKey("hash-none"), Errc::kUnauthorized);
  Result<UserRecord> person = store_->FindUserByName("ann");
  ASSERT_OK(person);
  EXPECT_FALSE(person->user.bot);
  EXPECT_FALSE(person->bot_owner.valid());

  // Deleting the bot ends its key and frees a place under the limit.
  ASSERT_OK(store_->DeleteUser(bot->id, now_));
  EXPECT_ERRC(store_->FindUserByApiKey("hash-1"), Errc::kUnauthorized);
  bots = store_->ListBots(ann);
  ASSERT_OK(bots);
  ASSERT_EQ(bots->size(), 1u);
  ASSERT_OK(store_->CreateBot(ann, "third", "", "hash-3", 2, now_));
}

}  // namespace parley::store::contract
