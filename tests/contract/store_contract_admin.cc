// The store's promises for server administration (PROTOCOL.md §7): listing
// users, disabling and enabling one, the totals of the stats, and a delete
// entry made by a server administrator, run for every backend with the rest
// of StoreContract.
#include <string>
#include <vector>

#include "store_contract.h"

namespace parley::store::contract {

TEST_P(StoreContract, ListUsersPagesByIdWithoutTheDeleted) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId c = NewUser("c");
  UserId d = NewUser("d");
  ASSERT_OK(store_->DeleteUser(c, now_));
  ASSERT_OK(store_->SetLastSeen(b, 4242));

  Result<std::vector<UserListing>> first = store_->ListUsers(UserId(0), 2);
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].user.id, a);
  EXPECT_EQ((*first)[0].user.username, "a");
  EXPECT_EQ((*first)[0].user.display_name, "a");
  EXPECT_FALSE((*first)[0].user.last_seen.has_value());
  EXPECT_GT((*first)[0].created_at, 0);
  EXPECT_FALSE((*first)[0].disabled);
  EXPECT_EQ((*first)[1].user.id, b);
  EXPECT_EQ((*first)[1].user.last_seen, 4242);
  EXPECT_LT((*first)[0].created_at, (*first)[1].created_at);

  Result<std::vector<UserListing>> rest = store_->ListUsers(b, 10);
  ASSERT_OK(rest);
  ASSERT_EQ(rest->size(), 1u);  // c is deleted
  EXPECT_EQ((*rest)[0].user.id, d);
  EXPECT_TRUE(store_->ListUsers(d, 10)->empty());
}

TEST_P(StoreContract, SetDisabledRevokesOnDisableAndShowsInAuthState) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ASSERT_OK(store_->PutRefreshToken("a1", a, 10'000, "f1"));
  ASSERT_OK(store_->PutRefreshToken("b1", b, 10'000, "f2"));

  Result<int64_t> epoch = store_->SetDisabled(a, true, now_);
  ASSERT_OK(epoch);
  EXPECT_EQ(*epoch, 1);
  Result<AuthState> state = store_->GetAuthState(a);
  ASSERT_OK(state);
  EXPECT_TRUE(state->disabled);
  EXPECT_FALSE(state->deleted);
  EXPECT_EQ(state->token_epoch, 1);
  EXPECT_ERRC(store_->TakeRefreshToken("a1", 100), Errc::kUnauthorized);
  ASSERT_OK(store_->TakeRefreshToken("b1", 100));
  EXPECT_FALSE(store_->GetAuthState(b)->disabled);
  EXPECT_TRUE((*store_->ListUsers(UserId(0), 10))[0].disabled);
  // The password is kept for when the user is enabled again.
  EXPECT_EQ(store_->FindUserByName("a")->password_hash, "hash-a");

  // Disabling again revokes again; enabling keeps the epoch.
  Result<int64_t> again = store_->SetDisabled(a, true, now_ + 1);
  ASSERT_OK(again);
  EXPECT_EQ(*again, 2);
  Result<int64_t> enabled = store_->SetDisabled(a, false, now_ + 2);
  ASSERT_OK(enabled);
  EXPECT_EQ(*enabled, 2);
  EXPECT_FALSE(store_->GetAuthState(a)->disabled);
  EXPECT_FALSE((*store_->ListUsers(UserId(0), 10))[0].disabled);
  ASSERT_OK(store_->SetDisabled(a, false, now_ + 3));  // enabling an enabled user is fine

  EXPECT_ERRC(store_->SetDisabled(UserId(999'999), true, now_), Errc::kNotFound);
  ASSERT_OK(store_->DeleteUser(b, now_));
  EXPECT_ERRC(store_->SetDisabled(b, true, now_), Errc::kNotFound);
  EXPECT_ERRC(store_->SetDisabled(b, false, now_), Errc::kNotFound);
}

TEST_P(StoreContract, CountTotalsCountsLiveUsersConversationsAndEntries) {
  Result<Totals> empty = store_->CountTotals();
  ASSERT_OK(empty);
  EXPECT_EQ(empty->users, 0);
  EXPECT_EQ(empty->conversations, 0);
  EXPECT_EQ(empty->entries, 0);

  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId gone = NewUser("gone");
  ASSERT_OK(store_->DeleteUser(gone, now_));
  ConversationId g = NewGroup(a, {b});
  Result<ConversationId> dm = store_->GetOrCreateDm(a, b, now_);
  ASSERT_OK(dm);
  ASSERT_GT(Send(g, a, "m1"), 0);
  ASSERT_GT(Send(g, b, "m2"), 0);
  ASSERT_GT(Send(*dm, a, "m3"), 0);
  ASSERT_OK(Commit(React(g, b, "r1", 1, "+1")));

  Result<Totals> totals = store_->CountTotals();
  ASSERT_OK(totals);
  EXPECT_EQ(totals->users, 2);
  EXPECT_EQ(totals->conversations, 2);
  EXPECT_EQ(totals->entries, 4);  // a reaction is an entry too
}

TEST_P(StoreContract, AServerAdministratorsDeleteNeedsNoMembership) {
  UserId owner = NewUser("owner");
  UserId member = NewUser("member");
  UserId admin = NewUser("admin");
  ConversationId g = NewGroup(owner, {member});
  const int64_t seq = Send(g, member, "m1", "unfit");
  ASSERT_GT(seq, 0);

  // Without the mark, a non-member's delete is refused.
  EXPECT_ERRC(Commit(Delete(g, admin, "", seq)), Errc::kForbidden);
  // With it: no client_msg_id, so each is a new entry, never a duplicate.
  auto admin_delete = [&](ConversationId conv, int64_t target) {
    NewMessage m = Delete(conv, admin, "", target);
    m.by_server_admin = true;
    return Commit(m);
  };

  Result<Committed> done = admin_delete(g, seq);
  ASSERT_OK(done);
  EXPECT_FALSE(done->duplicate);
  EXPECT_EQ(done->message.seq, seq + 1);
  EXPECT_EQ(done->message.sender, admin);
  EXPECT_EQ(done->message.kind, EntryKind::kDelete);
  EXPECT_TRUE(done->message.client_msg_id.empty());
  Message target = EntryAt(g, seq);
  EXPECT_TRUE(target.deleted);
  EXPECT_EQ(target.body, "");
  EXPECT_EQ(target.state_seq, seq + 1);
  EXPECT_EQ(EntryAt(g, seq + 1).client_msg_id, "");
  // A second one is stored too; the administrator is still no member, and
  // nobody's read marker moved.
  Result<Committed> second = admin_delete(g, seq);
  ASSERT_OK(second);
  EXPECT_FALSE(second->duplicate);
  EXPECT_EQ(second->message.seq, seq + 2);
  EXPECT_FALSE(store_->GetRole(g, admin)->has_value());
  EXPECT_EQ(store_->GetConversation(g, member)->read_seq, seq);
  // Still only text entries of an existing conversation.
  EXPECT_ERRC(admin_delete(g, seq + 1), Errc::kNotFound);
  EXPECT_ERRC(admin_delete(ConversationId(987'654), 1), Errc::kNotFound);
}

}  // namespace parley::store::contract
