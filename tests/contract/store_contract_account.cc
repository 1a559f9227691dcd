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

}  // namespace parley::store::contract
