// The store's promises for notification levels and Web Push (PROTOCOL.md
// §8): a member's level and its defaults, the server-wide secret the first
// writer keeps, subscriptions by endpoint with a limit per user, and who a
// new entry may be pushed to. Run for every backend with StoreContract.
#include <string>
#include <thread>
#include <vector>

#include "store_contract.h"

namespace parley::store::contract {

namespace {
PushSubscription Sub(UserId user, const std::string& endpoint, const std::string& key = "k") {
  return PushSubscription{user, endpoint, "p256dh-" + key, "auth-" + key};
}
}  // namespace

TEST_P(StoreContract, NotifyLevelDefaultsByKindAndIsKeptPerMember) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId group = NewGroup(a, {b});
  Result<ConversationId> dm = store_->GetOrCreateDm(a, b, now_);
  ASSERT_OK(dm);
  EXPECT_EQ(store_->GetConversation(group, a)->notify, NotifyLevel::kMentions);
  EXPECT_EQ(store_->GetConversation(*dm, a)->notify, NotifyLevel::kAll);

  ASSERT_OK(store_->SetNotifyLevel(group, a, NotifyLevel::kNone));
  ASSERT_OK(store_->SetNotifyLevel(*dm, b, NotifyLevel::kMentions));
  EXPECT_EQ(store_->GetConversation(group, a)->notify, NotifyLevel::kNone);
  EXPECT_EQ(store_->GetConversation(group, b)->notify, NotifyLevel::kMentions) << "b's own level";
  EXPECT_EQ(store_->GetConversation(*dm, b)->notify, NotifyLevel::kMentions);
  auto listed = store_->ListConversations(a);
  ASSERT_OK(listed);
  for (const Conversation& c : *listed) {
    EXPECT_EQ(c.notify, c.id == group ? NotifyLevel::kNone : NotifyLevel::kAll) << c.id.ToString();
  }
  ASSERT_OK(store_->SetNotifyLevel(group, a, NotifyLevel::kAll));
  EXPECT_EQ(store_->GetConversation(group, a)->notify, NotifyLevel::kAll);

  UserId c = NewUser("c");
  EXPECT_ERRC(store_->SetNotifyLevel(group, c, NotifyLevel::kAll), Errc::kNotFound);
}

TEST_P(StoreContract, ServerSecretKeepsTheFirstValue) {
  Result<std::string> first = store_->KeepServerSecret("vapid", "one");
  ASSERT_OK(first);
  EXPECT_EQ(*first, "one");
  EXPECT_EQ(*store_->KeepServerSecret("vapid", "two"), "one");
  EXPECT_EQ(*store_->KeepServerSecret("other", "two"), "two");
  Reopen();
  EXPECT_EQ(*store_->KeepServerSecret("vapid", "three"), "one") << "kept across a restart";
}

// Nodes starting together each offer their own secret: every one must be
// handed the same winner, never an error (a cluster's first start did this).
TEST_P(StoreContract, ConcurrentKeepsOfOneSecretAgreeOnTheWinner) {
  constexpr int kThreads = 6;
  for (int round = 0; round < 20; ++round) {
    const std::string name = "race-" + std::to_string(round);
    std::vector<std::string> kept(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        Result<std::string> value = store_->KeepServerSecret(name, "candidate-" + std::to_string(i));
        kept[i] = value.ok() ? *value : "error: " + value.error().message;
      });
    }
    for (auto& t : threads) t.join();
    for (const std::string& value : kept) {
      EXPECT_EQ(value.rfind("candidate-", 0), 0u) << value;
      EXPECT_EQ(value, kept[0]) << name;
    }
  }
}

TEST_P(StoreContract, AnyPushSubscriptionsFollowsTheFirstAndTheLast) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  EXPECT_FALSE(*store_->AnyPushSubscriptions());
  ASSERT_OK(store_->PutPushSubscription(Sub(a, "https://push.test/a"), 2, now_));
  ASSERT_OK(store_->PutPushSubscription(Sub(b, "https://push.test/b"), 2, now_));
  EXPECT_TRUE(*store_->AnyPushSubscriptions());
  ASSERT_TRUE(*store_->DeletePushSubscription(a, "https://push.test/a"));
  EXPECT_TRUE(*store_->AnyPushSubscriptions()) << "b's is left";
  ASSERT_TRUE(*store_->DeletePushSubscription(b, "https://push.test/b"));
  EXPECT_FALSE(*store_->AnyPushSubscriptions());
}

TEST_P(StoreContract, PushSubscriptionsAreByEndpointWithALimitPerUser) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId group = NewGroup(a, {b});
  ASSERT_OK(store_->PutPushSubscription(Sub(b, "https://push.test/1"), 2, now_));
  ASSERT_OK(store_->PutPushSubscription(Sub(b, "https://push.test/2"), 2, now_));
  EXPECT_ERRC(store_->PutPushSubscription(Sub(b, "https://push.test/3"), 2, now_), Errc::kBadRequest);
  // The same endpoint again replaces its keys, within the limit.
  ASSERT_OK(store_->PutPushSubscription(Sub(b, "https://push.test/2", "new"), 2, now_));

  Result<PushAudience> audience = store_->GetPushAudience(group, a);
  ASSERT_OK(audience);
  EXPECT_EQ(audience->kind, ConversationKind::kGroup);
  EXPECT_EQ(audience->title, "g");
  EXPECT_EQ(audience->sender_name, "a");
  ASSERT_EQ(audience->recipients.size(), 1u);
  EXPECT_EQ(audience->recipients[0].user, b);
  EXPECT_EQ(audience->recipients[0].level, NotifyLevel::kMentions);
  ASSERT_EQ(audience->recipients[0].subscriptions.size(), 2u);
  EXPECT_EQ(audience->recipients[0].subscriptions[0], Sub(b, "https://push.test/1"));
  EXPECT_EQ(audience->recipients[0].subscriptions[1], Sub(b, "https://push.test/2", "new"));

  EXPECT_FALSE(*store_->DeletePushSubscription(a, "https://push.test/1")) << "not a's";
  EXPECT_TRUE(*store_->DeletePushSubscription(b, "https://push.test/1"));
  EXPECT_FALSE(*store_->DeletePushSubscription(b, "https://push.test/1"));
  ASSERT_OK(store_->PutPushSubscription(Sub(b, "https://push.test/3"), 2, now_));
  EXPECT_EQ(store_->GetPushAudience(group, a)->recipients[0].subscriptions.size(), 2u);

  // A browser that subscribes for another user moves to them.
  ASSERT_OK(store_->PutPushSubscription(Sub(a, "https://push.test/3"), 2, now_));
  EXPECT_EQ(store_->GetPushAudience(group, a)->recipients[0].subscriptions.size(), 1u);
  EXPECT_EQ(store_->GetPushAudience(group, b)->recipients[0].user, a);
}

TEST_P(StoreContract, PushAudienceLeavesOutTheSenderAndLevelNone) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId c = NewUser("c");
  UserId d = NewUser("d");
  ConversationId group = NewGroup(a, {b, c, d});
  for (UserId u : {a, b, c})
    ASSERT_OK(store_->PutPushSubscription(Sub(u, "https://push.test/" + u.ToString()), 5, now_));
  ASSERT_OK(store_->SetNotifyLevel(group, b, NotifyLevel::kAll));
  ASSERT_OK(store_->SetNotifyLevel(group, c, NotifyLevel::kNone));
  Result<PushAudience> audience = store_->GetPushAudience(group, a);
  ASSERT_OK(audience);
  // a sent it; c chose none; d has no subscription.
  ASSERT_EQ(audience->recipients.size(), 1u);
  EXPECT_EQ(audience->recipients[0].user, b);
  EXPECT_EQ(audience->recipients[0].level, NotifyLevel::kAll);

  Result<ConversationId> dm = store_->GetOrCreateDm(a, b, now_);
  ASSERT_OK(dm);
  ASSERT_OK(store_->SetDisplayName(a, "Alice A."));
  audience = store_->GetPushAudience(*dm, a);
  ASSERT_OK(audience);
  EXPECT_EQ(audience->kind, ConversationKind::kDm);
  EXPECT_FALSE(audience->title.has_value());
  EXPECT_EQ(audience->sender_name, "Alice A.");
  ASSERT_EQ(audience->recipients.size(), 1u);
  EXPECT_EQ(audience->recipients[0].level, NotifyLevel::kAll) << "a DM's default";

  EXPECT_ERRC(store_->GetPushAudience(ConversationId(999999), a), Errc::kNotFound);

  // A disabled or deleted account is pushed nothing (a DM keeps its member).
  ASSERT_OK(store_->SetDisabled(b, true, now_));
  EXPECT_TRUE(store_->GetPushAudience(*dm, a)->recipients.empty());
  ASSERT_OK(store_->SetDisabled(b, false, now_));
  EXPECT_EQ(store_->GetPushAudience(*dm, a)->recipients.size(), 1u);
  ASSERT_OK(store_->DeleteUser(b, now_));
  EXPECT_TRUE(store_->GetPushAudience(*dm, a)->recipients.empty());
}

}  // namespace parley::store::contract
