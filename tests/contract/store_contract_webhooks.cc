// The store's promises for outgoing webhooks (PROTOCOL.md §8): creating,
// listing and deleting them, the durable cursor, the failure state and the
// lease that lets exactly one owner deliver a webhook at a time, run for
// every backend with the rest of StoreContract.
#include <optional>
#include <string>
#include <vector>

#include "store_contract.h"

namespace parley::store::contract {

TEST_P(StoreContract, WebhookStartsAtTheConversationsHeadAndIsListedAndDeleted) {
  UserId a = NewUser("a");
  ConversationId g = NewGroup(a, {});
  ASSERT_GT(Send(g, a, "m1"), 0);
  ASSERT_GT(Send(g, a, "m2"), 0);

  Result<WebhookRecord> made = store_->CreateWebhook(g, "https://example.com/h", "s3cret", a, 10, now_);
  ASSERT_OK(made);
  EXPECT_GT(made->id, 0);
  EXPECT_EQ(made->cursor, 2);  // only entries committed after its creation are delivered
  EXPECT_EQ(made->secret, "s3cret");
  EXPECT_FALSE(made->failing_since.has_value());

  Result<WebhookRecord> second = store_->CreateWebhook(g, "https://example.com/2", "x", a, 10, now_);
  ASSERT_OK(second);
  Result<std::vector<WebhookRecord>> listed = store_->ListWebhooks(g);
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, made->id);
  EXPECT_EQ((*listed)[0].url, "https://example.com/h");
  EXPECT_EQ((*listed)[0].created_by, a);
  EXPECT_EQ((*listed)[0].created_at, now_);
  EXPECT_EQ((*listed)[1].id, second->id);

  Result<WebhookRecord> got = store_->GetWebhook(made->id);
  ASSERT_OK(got);
  EXPECT_EQ(got->secret, "s3cret");
  EXPECT_EQ(got->conv, g);

  ConversationId other = NewGroup(a, {});
  EXPECT_FALSE(*store_->DeleteWebhook(other, made->id));  // not that conversation's
  EXPECT_TRUE(*store_->DeleteWebhook(g, made->id));
  EXPECT_FALSE(*store_->DeleteWebhook(g, made->id));
  EXPECT_ERRC(store_->GetWebhook(made->id), Errc::kNotFound);
  EXPECT_EQ(store_->ListWebhooks(g)->size(), 1u);
}

TEST_P(StoreContract, AnyWebhooksFollowsTheFirstAndTheLast) {
  UserId a = NewUser("a");
  ConversationId g = NewGroup(a, {});
  Result<bool> none = store_->AnyWebhooks();
  ASSERT_OK(none);
  EXPECT_FALSE(*none);
  Result<WebhookRecord> one = store_->CreateWebhook(g, "https://example.com/1", "s", a, 10, now_);
  ASSERT_OK(one);
  Result<WebhookRecord> two = store_->CreateWebhook(g, "https://example.com/2", "s", a, 10, now_);
  ASSERT_OK(two);
  EXPECT_TRUE(*store_->AnyWebhooks());
  ASSERT_TRUE(*store_->DeleteWebhook(g, one->id));
  EXPECT_TRUE(*store_->AnyWebhooks()) << "the second is left";
  ASSERT_TRUE(*store_->DeleteWebhook(g, two->id));
  EXPECT_FALSE(*store_->AnyWebhooks());
}

TEST_P(StoreContract, WebhookCreationIsCappedPerConversationAndNeedsTheConversation) {
  UserId a = NewUser("a");
  ConversationId g = NewGroup(a, {});
  ConversationId h = NewGroup(a, {});
  ASSERT_OK(store_->CreateWebhook(g, "https://example.com/1", "s", a, 2, now_));
  ASSERT_OK(store_->CreateWebhook(g, "https://example.com/2", "s", a, 2, now_));
  EXPECT_ERRC(store_->CreateWebhook(g, "https://example.com/3", "s", a, 2, now_), Errc::kBadRequest);
  ASSERT_OK(store_->CreateWebhook(h, "https://example.com/3", "s", a, 2, now_));  // per conversation
  EXPECT_ERRC(store_->CreateWebhook(ConversationId(999999), "https://example.com/4", "s", a, 2, now_),
              Errc::kNotFound);
}

TEST_P(StoreContract, WebhookIsDueOnlyWithEntriesPastItsCursor) {
  UserId a = NewUser("a");
  ConversationId g = NewGroup(a, {});
  Result<WebhookRecord> w = store_->CreateWebhook(g, "https://example.com/h", "s", a, 10, now_);
  ASSERT_OK(w);
  EXPECT_TRUE(store_->DueWebhooks("n1", now_, 10)->empty());
  ASSERT_GT(Send(g, a, "m1"), 0);
  Result<std::vector<int64_t>> due = store_->DueWebhooks("n1", now_, 10);
  ASSERT_OK(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0], w->id);
}

TEST_P(StoreContract, WebhookCursorAdvancesOnlyForwardAndClearsTheFailure) {
  UserId a = NewUser("a");
  ConversationId g = NewGroup(a, {});
  Result<WebhookRecord> w = store_->CreateWebhook(g, "https://example.com/h", "s", a, 10, now_);
  ASSERT_OK(w);
  for (int i = 0; i < 3; ++i) ASSERT_GT(Send(g, a, "m" + std::to_string(i)), 0);

  ASSERT_TRUE(store_->LeaseWebhook(w->id, "n1", now_, now_ + 30'000)->has_value());
  // A failure: marked, counted, not due before its next attempt, lease given up.
  EXPECT_TRUE(*store_->FailWebhook(w->id, "n1", now_, now_ + 5'000));
  Result<WebhookRecord> failed = store_->GetWebhook(w->id);
  ASSERT_OK(failed);
  EXPECT_EQ(failed->failing_since, now_);
  EXPECT_EQ(failed->attempts, 1);
  EXPECT_EQ(failed->next_attempt_at, now_ + 5'000);
  EXPECT_TRUE(store_->DueWebhooks("n1", now_ + 1'000, 10)->empty());
  EXPECT_EQ(store_->DueWebhooks("n1", now_ + 5'000, 10)->size(), 1u);
  // A second failure keeps the first one's time.
  ASSERT_TRUE(store_->LeaseWebhook(w->id, "n1", now_ + 5'000, now_ + 35'000)->has_value());
  EXPECT_TRUE(*store_->FailWebhook(w->id, "n1", now_ + 5'000, now_ + 15'000));
  EXPECT_EQ(store_->GetWebhook(w->id)->failing_since, now_);
  EXPECT_EQ(store_->GetWebhook(w->id)->attempts, 2);

  ASSERT_TRUE(store_->LeaseWebhook(w->id, "n1", now_ + 15'000, now_ + 45'000)->has_value());
  EXPECT_TRUE(*store_->AdvanceWebhook(w->id, "n1", 2, now_ + 45'000));
  Result<WebhookRecord> advanced = store_->GetWebhook(w->id);
  ASSERT_OK(advanced);
  EXPECT_EQ(advanced->cursor, 2);
  EXPECT_FALSE(advanced->failing_since.has_value());
  EXPECT_EQ(advanced->attempts, 0);
  EXPECT_EQ(advanced->next_attempt_at, 0);
  EXPECT_TRUE(*store_->AdvanceWebhook(w->id, "n1", 1, now_ + 45'000));  // never back
  EXPECT_EQ(store_->GetWebhook(w->id)->cursor, 2);
  EXPECT_TRUE(*store_->AdvanceWebhook(w->id, "n1", 3, now_ + 45'000));
  EXPECT_TRUE(store_->DueWebhooks("n1", now_ + 15'000, 10)->empty());  // nothing past the cursor
}

TEST_P(StoreContract, WebhookLeaseHasOneOwnerUntilItExpires) {
  UserId a = NewUser("a");
  ConversationId g = NewGroup(a, {});
  Result<WebhookRecord> w = store_->CreateWebhook(g, "https://example.com/h", "s", a, 10, now_);
  ASSERT_OK(w);
  ASSERT_GT(Send(g, a, "m1"), 0);

  Result<std::optional<WebhookRecord>> first = store_->LeaseWebhook(w->id, "n1", now_, now_ + 30'000);
  ASSERT_OK(first);
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->url, "https://example.com/h");
  // Another owner neither gets it nor sees it due while the lease holds...
  EXPECT_FALSE(store_->LeaseWebhook(w->id, "n2", now_ + 1'000, now_ + 31'000)->has_value());
  EXPECT_TRUE(store_->DueWebhooks("n2", now_ + 1'000, 10)->empty());
  EXPECT_EQ(store_->DueWebhooks("n1", now_ + 1'000, 10)->size(), 1u);
  // ...nor moves its cursor or marks it failing.
  EXPECT_FALSE(*store_->AdvanceWebhook(w->id, "n2", 1, now_ + 31'000));
  EXPECT_FALSE(*store_->FailWebhook(w->id, "n2", now_, now_ + 5'000));
  EXPECT_EQ(store_->GetWebhook(w->id)->cursor, 0);
  // The owner renews it.
  EXPECT_TRUE(store_->LeaseWebhook(w->id, "n1", now_ + 2'000, now_ + 32'000)->has_value());
  // Once it expires (the owner died), another takes it over; the old owner
  // has lost it.
  EXPECT_EQ(store_->DueWebhooks("n2", now_ + 32'000, 10)->size(), 1u);
  EXPECT_TRUE(store_->LeaseWebhook(w->id, "n2", now_ + 32'000, now_ + 62'000)->has_value());
  EXPECT_FALSE(*store_->AdvanceWebhook(w->id, "n1", 1, now_ + 62'000));
  EXPECT_TRUE(*store_->AdvanceWebhook(w->id, "n2", 1, now_ + 62'000));
  // Released, it is anyone's at once.
  ASSERT_OK(store_->ReleaseWebhook(w->id, "n2"));
  EXPECT_TRUE(store_->LeaseWebhook(w->id, "n3", now_ + 33'000, now_ + 63'000)->has_value());
  EXPECT_FALSE(store_->LeaseWebhook(999999, "n3", now_, now_ + 1)->has_value());  // gone: nobody's
}

}  // namespace parley::store::contract
